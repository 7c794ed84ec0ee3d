import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import { AgentHello, CommandLimits, DomainPattern } from '../../../core/wire/policy';

test('DomainPattern: lower-case host names, or *. and one', () => {
  for (const ok of ['localhost', 'registry.npmjs.org', '*.example.com', 'a-b.c0.io', `${'a'.repeat(63)}.com`]) assert.ok(DomainPattern.safeParse(ok).success, ok);
});

test('DomainPattern: no upper case, IP address, port, scheme, path, bare or inner wildcard, empty label or label over 63', () => {
  for (const bad of ['Example.com', '10.0.0.1', 'example.com:443', 'https://example.com', 'example.com/x', '*', '*.', 'a.*.com', '**.a.com', 'a..com', '.a.com', 'a.com.', '-a.com', 'a-.com', `${'a'.repeat(64)}.com`, '1.2.3.4', `${'a.'.repeat(127)}a`]) {
    assert.equal(DomainPattern.safeParse(bad).success, false, bad);
  }
});

test('CommandLimits: every limit, whole and positive, none missing and none unknown', () => {
  assert.ok(CommandLimits.safeParse(MAX_COMMAND_LIMITS).success);
  assert.equal(CommandLimits.safeParse({ ...MAX_COMMAND_LIMITS, processes: 0 }).success, false);
  assert.equal(CommandLimits.safeParse({ ...MAX_COMMAND_LIMITS, cpuSeconds: 1.5 }).success, false);
  const { processes: _processes, ...missing } = MAX_COMMAND_LIMITS;
  assert.equal(CommandLimits.safeParse(missing).success, false);
  assert.equal(CommandLimits.safeParse({ ...MAX_COMMAND_LIMITS, wallSeconds: 1 }).success, false);
});

test('AgentHello: a confinement mode the wire does not name is refused', () => {
  const hello = { name: 'a', requested: ['read_file'], agentVersion: '0.3.0' };
  assert.ok(AgentHello.safeParse({ ...hello, confinement: { mode: 'sandboxed', detail: '', ceilings: MAX_COMMAND_LIMITS } }).success);
  assert.equal(AgentHello.safeParse({ ...hello, confinement: { mode: 'trusted', detail: '', ceilings: MAX_COMMAND_LIMITS } }).success, false);
  assert.equal(AgentHello.safeParse({ ...hello, name: '' }).success, false);
});

test('AgentHello: a name with a NUL is refused at the edge (PostgreSQL cannot store it; SQLite would), other control characters pass', () => {
  const hello = { name: 'a', requested: ['read_file'], agentVersion: '0.3.0' };
  const refused = AgentHello.safeParse({ ...hello, name: 'build\u0000er' });
  assert.equal(refused.success, false);
  assert.match(refused.error!.issues[0]!.message, /NUL/);
  assert.ok(AgentHello.safeParse({ ...hello, name: 'build\u0001er' }).success);
});
