// The parts of the policy text not already covered through PolicyInput (test/core/rpc/views.test.ts covers the
// bounds of each limit and sizes round-tripping): what people are told about a mistaken domain, and limits as typed and shown.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { domainPatternProblem, formatLimit, LIMIT_FIELDS, parseDomainList, parseLimit } from '../../../core/rpc/policy-text';

describe('domain patterns as people type them', () => {
  test('each usual mistake is named for what it is', () => {
    assert.match(domainPatternProblem('https://api.example.com/v1')!, /is a URL: give only its host name \(api\.example\.com\)$/);
    assert.match(domainPatternProblem('10.0.0.1')!, /is an IP address/);
    assert.match(domainPatternProblem('10.0.0.1:80')!, /is an IP address/);
    assert.match(domainPatternProblem('[::1]')!, /is an IP address/);
    assert.match(domainPatternProblem('fe80::1')!, /is an IP address/);
    assert.match(domainPatternProblem('example.com:443')!, /names a port/);
    assert.match(domainPatternProblem('example.com/path')!, /has a path/);
    assert.match(domainPatternProblem('exa mple.com')!, /is not a domain pattern: /);
    assert.equal(domainPatternProblem('*.example.com'), undefined);
    assert.equal(domainPatternProblem('registry.npmjs.org'), undefined);
  });

  test('a very long mistake is quoted short', () => {
    assert.ok(domainPatternProblem(`${'a'.repeat(10_000)}:1`)!.length < 400);
  });

  test('a list is split on commas and spaces, lower-cased, without repeats; the first problem is the answer', () => {
    assert.deepEqual(parseDomainList(' Example.com,  *.API.test example.com\n'), { ok: true, domains: ['example.com', '*.api.test'] });
    assert.deepEqual(parseDomainList(''), { ok: true, domains: [] });
    const bad = parseDomainList('example.com, http://x.test, 10.0.0.1');
    assert.ok(!bad.ok && /is a URL/.test(bad.problem));
  });
});

describe('limits as typed and shown', () => {
  const field = (key: string) => LIMIT_FIELDS.find((f) => f.key === key)!;

  test('counts and seconds are whole numbers above zero ("600 s" and "600" alike); sizes take K, M and G', () => {
    assert.deepEqual(parseLimit(field('cpuSeconds'), '600 s', 1_000), { ok: true, value: 600 });
    assert.deepEqual(parseLimit(field('processes'), ' 64 ', 1_000), { ok: true, value: 64 });
    assert.deepEqual(parseLimit(field('memoryBytes'), '512M', 2 ** 40), { ok: true, value: 512 * 1024 ** 2 });
    for (const text of ['0', '1.5', '-2', 'many', '']) {
      const parsed = parseLimit(field('processes'), text, 1_000);
      assert.ok(!parsed.ok && parsed.problem === `Processes: ${JSON.stringify(text)} is not a whole number above 0`, text);
    }
    const size = parseLimit(field('fileBytes'), '2T', 2 ** 40);
    assert.ok(!size.ok && /is not a size such as 512M or 2G$/.test(size.problem));
  });

  test('over the maximum, the problem says the maximum as it is shown', () => {
    const over = parseLimit(field('memoryBytes'), '3G', 2 * 1024 ** 3);
    assert.deepEqual(over, { ok: false, problem: 'Memory: at most 2 GiB' });
    assert.equal(formatLimit('seconds', 600), '600 s');
    assert.equal(formatLimit('count', 256), '256');
    assert.equal(formatLimit('bytes', 1536 * 1024 ** 2), '1536 MiB');
  });

  test('each limit has one flag and one label, and all five limits are there', () => {
    assert.deepEqual(LIMIT_FIELDS.map((f) => f.key).sort(), ['cpuSeconds', 'fileBytes', 'memoryBytes', 'processes', 'workspaceWriteBytes']);
    assert.equal(new Set(LIMIT_FIELDS.map((f) => f.flag)).size, LIMIT_FIELDS.length);
  });
});
