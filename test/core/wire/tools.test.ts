import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { HttpFetchParams, ToolCall } from '../../../core/wire/tools';

const fetch = (o: Record<string, unknown> = {}) => HttpFetchParams.safeParse({ method: 'GET', url: 'https://a.example.com/x?y=1', timeoutMs: 1_000, ...o }).success;

test('http_fetch: an absolute http or https URL only', () => {
  assert.ok(fetch());
  assert.ok(fetch({ url: 'HTTP://a.example.com' }));
  for (const url of ['ftp://a.example.com', 'file:///etc/passwd', '//a.example.com', 'a.example.com', 'https://', 'javascript:alert(1)']) assert.equal(fetch({ url }), false, url);
});

test('http_fetch: the caller may not set the headers the agent owns, in any case', () => {
  assert.ok(fetch({ headers: { Accept: 'application/json', 'X-Api-Key': 'k' } }));
  for (const name of ['Host', 'content-length', 'Connection', 'Transfer-Encoding', 'Proxy-Authorization', 'Upgrade', 'TE', 'Trailer', 'Keep-Alive']) {
    assert.equal(fetch({ headers: { [name]: 'x' } }), false, name);
  }
  for (const name of ['', 'a b', 'x:y', 'ü', 'x'.repeat(65)]) assert.equal(fetch({ headers: { [name]: 'x' } }), false, JSON.stringify(name));
});

test('http_fetch: 32 headers are taken, 33 refused; timeout and body within their budgets', () => {
  const headers = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v']));
  assert.ok(fetch({ headers: headers(32) }));
  assert.equal(fetch({ headers: headers(33) }), false);
  assert.ok(fetch({ timeoutMs: BUDGETS.httpFetchMs.limit }));
  assert.equal(fetch({ timeoutMs: BUDGETS.httpFetchMs.limit + 1 }), false);
  assert.ok(fetch({ method: 'POST', body: 'é'.repeat(BUDGETS.httpFetchRequestBytes.limit / 2) }));
  assert.equal(fetch({ method: 'POST', body: `${'é'.repeat(BUDGETS.httpFetchRequestBytes.limit / 2)}a` }), false, 'counted in UTF-8 bytes');
  assert.equal(fetch({ method: 'PATCH' }), false);
});

test('a tool call is checked with the params of the tool it names, not another’s', () => {
  assert.ok(ToolCall.safeParse({ capability: 'read_file', params: { path: 'a' } }).success);
  assert.equal(ToolCall.safeParse({ capability: 'read_file', params: { path: '' } }).success, false);
  assert.equal(ToolCall.safeParse({ capability: 'run_command', params: { path: 'a' } }).success, false);
  assert.equal(ToolCall.safeParse({ capability: 'llm_task', params: { instruction: 'x' } }).success, false, 'a task is not a tool');
});
