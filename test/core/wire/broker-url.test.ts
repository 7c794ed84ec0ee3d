// Plain ws:// exposes who talks to the broker and what they send: only loopback is allowed without an explicit opt-in.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { brokerUrlProblem, loggableUrl, rpcUrl } from '../../../core/wire/broker-url';

const HOW = 'pass --allow-plain-ws';

describe('brokerUrlProblem', () => {
  test('accepts wss:// anywhere and ws:// to loopback addresses', () => {
    for (const url of ['wss://broker.example:8443', 'wss://10.0.0.7', 'ws://127.0.0.1:8080', 'ws://127.8.9.10', 'ws://localhost:1', 'ws://[::1]:8080']) {
      assert.equal(brokerUrlProblem(url, false, HOW), null, url);
    }
  });

  test('refuses ws:// to any other host, naming the host and how to allow it', () => {
    const cases: [string, string][] = [['ws://10.0.0.7:8080', '10.0.0.7'], ['ws://broker.example', 'broker.example'], ['ws://[fe80::1]:80', '[fe80::1]'], ['ws://127.0.0.1.evil.example', '127.0.0.1.evil.example']];
    for (const [url, host] of cases) {
      const problem = brokerUrlProblem(url, false, HOW);
      assert.ok(problem?.includes(`plain ws:// to ${host}`) && problem.includes(HOW), `${url}: ${problem}`);
    }
  });

  test('the explicit opt-in allows remote ws://, never another scheme', () => {
    assert.equal(brokerUrlProblem('ws://10.0.0.7:8080', true, HOW), null);
    assert.match(brokerUrlProblem('http://10.0.0.7', true, HOW) ?? '', /must be wss:\/\//);
    assert.match(brokerUrlProblem('not a url', true, HOW) ?? '', /is not a URL/);
  });
});

describe('broker URLs carry no credentials, and /rpc goes on the path (issue 19 #4)', () => {
  test('a user name or password in the URL is refused (ws would send it as Basic auth to whoever answers), without echoing it', () => {
    for (const url of ['wss://alice:pa55@broker.example', 'wss://alice@broker.example', 'ws://:pa55@127.0.0.1:8080']) {
      const problem = brokerUrlProblem(url, false, HOW);
      assert.match(problem ?? 'accepted', /must not carry a user name or password/, url);
      assert.equal(problem?.includes('pa55'), false);
    }
    assert.equal(brokerUrlProblem('wss://alice:pa55@broker.example/%zz', false, HOW)?.includes('pa55'), false);
  });

  test('loggableUrl drops the userinfo', () => {
    assert.equal(loggableUrl('wss://alice:pa55@broker.example:8443/hub?x=1'), 'wss://broker.example:8443/hub?x=1');
  });

  test('rpcUrl appends /rpc to the path, before the query, once', () => {
    assert.equal(rpcUrl('wss://b:1'), 'wss://b:1/rpc');
    assert.equal(rpcUrl('wss://b:1/'), 'wss://b:1/rpc');
    assert.equal(rpcUrl('wss://b:1/base/?tenant=a'), 'wss://b:1/base/rpc?tenant=a');
    assert.equal(rpcUrl('wss://b:1/rpc?x=1'), 'wss://b:1/rpc?x=1');
  });
});
