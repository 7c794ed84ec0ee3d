// What an admin may put in a policy: each command limit at most its row of the budget table (the largest a
// policy may grant; the agent host narrows it again), sizes and domains as people type them, and the same
// answer from the broker's schema and from the text the CLI and the editor parse.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import { formatBytes, LIMIT_FIELDS, parseByteSize, parseDomainList, parseLimit } from '../../../core/rpc/policy-text';
import { PolicyInput } from '../../../core/rpc/views';
import type { CommandLimits } from '../../../core/wire/policy';

const ROWS: Record<keyof CommandLimits, { limit: number }> = {
  cpuSeconds: BUDGETS.commandCpuSeconds,
  memoryBytes: BUDGETS.commandMemoryBytes,
  processes: BUDGETS.commandProcesses,
  fileBytes: BUDGETS.commandFileBytes,
  workspaceWriteBytes: BUDGETS.commandWorkspaceWriteBytes,
};

describe('PolicyInput: command limits', () => {
  for (const field of LIMIT_FIELDS) {
    const bound = ROWS[field.key].limit;
    test(`${field.key}: ${bound} is granted, ${bound + 1} is refused, by the schema and by the typed text alike`, () => {
      assert.equal(MAX_COMMAND_LIMITS[field.key], bound);
      const at = PolicyInput.safeParse({ capabilities: ['run_command'], commandLimits: { [field.key]: bound } });
      assert.ok(at.success);
      assert.deepEqual(at.data.commandLimits, { [field.key]: bound });
      const over = PolicyInput.safeParse({ capabilities: ['run_command'], commandLimits: { [field.key]: bound + 1 } });
      assert.ok(!over.success);
      assert.deepEqual(over.error.issues[0]?.path, ['commandLimits', field.key]);
      assert.deepEqual(parseLimit(field, String(bound), bound), { ok: true, value: bound });
      const typedOver = parseLimit(field, String(bound + 1), bound);
      assert.ok(!typedOver.ok && typedOver.problem.includes('at most'));
      assert.ok(!PolicyInput.safeParse({ capabilities: ['run_command'], commandLimits: { [field.key]: 0 } }).success, 'zero is no limit at all: refused');
    });
  }

  test('left out, the limits and the domains take their defaults: none given (the broker fills the limits) and no network', () => {
    const parsed = PolicyInput.parse({ capabilities: ['run_command'] });
    assert.deepEqual(parsed.commandLimits, {});
    assert.deepEqual(parsed.allowedDomains, []);
    assert.ok(!PolicyInput.safeParse({ capabilities: ['run_command'], commandLimits: { wallSeconds: 5 } }).success, 'an unknown limit is refused, not ignored');
  });

  test(`allowedDomains: BUDGETS.allowedDomains (${BUDGETS.allowedDomains.limit}) patterns are taken, one more is refused, by the schema and the typed list alike`, () => {
    const atBound = Array.from({ length: BUDGETS.allowedDomains.limit }, (_, i) => `h${i}.example.com`);
    assert.ok(PolicyInput.safeParse({ capabilities: ['http_fetch'], allowedDomains: atBound }).success);
    assert.ok(!PolicyInput.safeParse({ capabilities: ['http_fetch'], allowedDomains: [...atBound, 'one.more.example'] }).success);
    assert.deepEqual(parseDomainList(atBound.join(',')), { ok: true, domains: atBound });
    assert.ok(!parseDomainList([...atBound, 'one.more.example'].join(',')).ok);
    for (const bad of ['10.0.0.1', 'https://a.example.com', 'a.example.com:443', 'A.example.com', '*.', 'a..b']) {
      assert.ok(!PolicyInput.safeParse({ capabilities: ['http_fetch'], allowedDomains: [bad] }).success, `${bad} refused by the schema`);
    }
  });
});

describe('sizes as people type and read them', () => {
  test('K, M and G are binary, with or without iB; a plain number is bytes; what is shown parses back', () => {
    assert.equal(parseByteSize('2G'), 2 * 1024 ** 3);
    assert.equal(parseByteSize('512m'), 512 * 1024 ** 2);
    assert.equal(parseByteSize('64 KiB'), 64 * 1024);
    assert.equal(parseByteSize('1.5G'), 1.5 * 1024 ** 3);
    assert.equal(parseByteSize('100'), 100);
    for (const bad of ['', 'lots', '0', '-1G', '2T', '1.3K', 'G']) assert.equal(parseByteSize(bad), undefined, bad);
    for (const n of [BUDGETS.commandMemoryBytes.limit, 1536 * 1024 ** 2, 1000, 64 * 1024]) assert.equal(parseByteSize(formatBytes(n)), n, formatBytes(n));
    assert.equal(formatBytes(BUDGETS.commandFileBytes.limit), '1 GiB');
  });
});
