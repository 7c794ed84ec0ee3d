import assert from 'node:assert/strict';
import { test } from 'node:test';
import { domainAllowed } from '../../../core/policy/egress-rules';

const patterns = ['example.com', '*.api.test'];

test('an exact pattern names that host only, whatever its case and a trailing dot', () => {
  for (const host of ['example.com', 'EXAMPLE.com', 'example.com.']) assert.equal(domainAllowed(host, patterns), true, host);
  for (const host of ['www.example.com', 'example.com.evil', 'evilexample.com', 'example.co']) assert.equal(domainAllowed(host, patterns), false, host);
});

test('a wildcard names every host strictly under it, never the domain itself nor a look-alike', () => {
  for (const host of ['a.api.test', 'deep.a.api.test', 'A.API.TEST.']) assert.equal(domainAllowed(host, patterns), true, host);
  for (const host of ['api.test', '.api.test', 'xapi.test', 'a.api.test.evil']) assert.equal(domainAllowed(host, patterns), false, host);
});

test('IP literals, empty names and wildcards in the host never match, even a pattern spelled the same', () => {
  for (const host of ['127.0.0.1', '10.0.0.1', '::1', '[::1]', '', '.', '*.api.test', '*']) {
    assert.equal(domainAllowed(host, [...patterns, '127.0.0.1', host]), false, host);
  }
});

test('no patterns: no network', () => {
  assert.equal(domainAllowed('example.com', []), false);
});
