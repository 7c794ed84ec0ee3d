// http_fetch attacks, against the real IntentRunner (signed intents, real SQLite, the agent's gates) and real
// HTTP servers on 127.0.0.1: a fetch reaches only what the certified allowedDomains names, never the broker,
// never loopback unless the host's operator allows it, follows no redirect, keeps at most
// BUDGETS.httpFetchResponseBytes of an answer, sends at most BUDGETS.httpFetchRequestBytes, ends within
// BUDGETS.httpFetchMs and its own timeoutMs, and passes the gates every tool passes. Each result is signed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import type { CertifiedPolicy } from '../../core/wire/policy';
import { waitFor } from '../support/processes';
import { testHostRules } from '../agent/tools/fixtures';
import { CountingHttpServer, CountingListener } from './support/egress-fixtures';
import { policy, RunnerHarness } from './support/runner-harness';

describe('http_fetch attacks', () => {
  let site: CountingHttpServer;
  let elsewhere: CountingHttpServer;
  let hub: CountingListener;
  const harnesses: RunnerHarness[] = [];
  const RESPONSE = BUDGETS.httpFetchResponseBytes.limit;

  before(async () => {
    elsewhere = await CountingHttpServer.start('elsewhere');
    hub = await CountingListener.start();
    site = await CountingHttpServer.start('site', (req, res) => {
      const path = req.url.split('?')[0];
      if (path === '/redirect') return void res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.port}/stolen`, 'set-cookie': 'secret=1' }).end('moved');
      if (path === '/exact') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('a'.repeat(RESPONSE));
      if (path === '/over') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('b'.repeat(RESPONSE + 1));
      if (path === '/huge') {
        // Far past the bound, streamed: the agent stops reading at the bound + 1.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 0x41);
        let sent = 0;
        const pump = () => {
          while (sent < 64 * 1024 * 1024 && res.write(chunk)) sent += chunk.length;
          if (sent < 64 * 1024 * 1024 && !res.destroyed) res.once('drain', pump);
          else res.end();
        };
        res.on('error', () => undefined);
        return pump();
      }
      if (path === '/binary') return void res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(Buffer.from([0xff, 0xfe, 0x00, 0x80]));
      if (path === '/hang') return; // never answers
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-internal': 'not kept' }).end(req.method === 'HEAD' ? undefined : `${req.method} ${req.url} ${req.body.length}:${req.body.slice(0, 20)}`);
    });
  });

  after(async () => {
    for (const h of harnesses) h.cleanup();
    await site?.close();
    await elsewhere?.close();
    await hub?.close();
  });

  /** A runner whose certificate grants http_fetch to `localhost`, on a host that allows loopback and whose broker is `hub`. */
  function setup(over: Partial<CertifiedPolicy> = {}, allowLoopback = true): RunnerHarness {
    const h = new RunnerHarness(
      policy({ capabilities: ['http_fetch'], allowedDomains: ['localhost'], ...over }),
      testHostRules({ brokers: [{ host: '127.0.0.1', port: hub.port }], allowLoopback }),
    );
    harnesses.push(h);
    return h;
  }
  const fetchIntent = (h: RunnerHarness, params: Record<string, unknown>) =>
    h.intent({ capability: 'http_fetch', params: { method: 'GET', timeoutMs: 10_000, ...params }, delegation: h.delegation({ capabilities: ['http_fetch'] }) });
  const url = (path: string) => `http://localhost:${site.port}${path}`;

  async function fetched(h: RunnerHarness, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const body = fetchIntent(h, params);
    const result = await h.expectSucceeded(h.seal(body), body.id);
    assert.ok(result.output, 'a signed output');
    return result.output;
  }
  async function refused(h: RunnerHarness, params: Record<string, unknown>, reason: 'destination-refused' | 'bad-params') {
    const body = fetchIntent(h, params);
    return h.expectRefused(h.seal(body), body.id, reason);
  }

  test('an allowed host answers GET, POST and HEAD; the signed output has the status, the kept headers and the body', async () => {
    const h = setup();
    const get = await fetched(h, { url: url('/hello?q=1'), headers: { 'x-trace': 'abc' } });
    assert.deepEqual(get, {
      status: 200,
      // x-internal is not among the headers kept.
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: 'GET /hello?q=1 0:',
      encoding: 'utf8',
      bodyBytes: 17,
      truncated: false,
      durationMs: get.durationMs,
    });
    assert.equal(typeof get.durationMs, 'number');
    assert.equal(site.requests.at(-1)?.host, `localhost:${site.port}`);
    const post = await fetched(h, { method: 'POST', url: url('/submit'), body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    assert.equal(post.body, 'POST /submit 7:{"a":1}');
    const head = await fetched(h, { method: 'HEAD', url: url('/hello') });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const binary = await fetched(h, { url: url('/binary') });
    assert.deepEqual([binary.encoding, binary.body, binary.bodyBytes], ['base64', Buffer.from([0xff, 0xfe, 0x00, 0x80]).toString('base64'), 4]);
  });

  test('a host allowedDomains does not name, an IP literal, or any host under an empty allowedDomains is refused with destination-refused', async () => {
    const before = site.connections;
    const h = setup();
    await refused(h, { url: `http://127.0.0.1:${site.port}/` }, 'destination-refused');
    const other = await refused(h, { url: 'https://example.com/' }, 'destination-refused');
    // The shared policy gate refuses it before the tool runs (the broker's pre-check says the same).
    assert.match(other.message, /example\.com is not in the agent's allowed domains \(allowed: localhost\)/);
    const none = setup({ allowedDomains: [] });
    const empty = await refused(none, { url: url('/') }, 'destination-refused');
    assert.match(empty.message, /the policy allows no network/);
    assert.equal(site.connections, before, 'no refused fetch reached a server');
  });

  test('the broker is refused, with localhost allowed and loopback allowed; loopback without the host flag is refused', async () => {
    const h = setup();
    const broker = await refused(h, { url: `http://localhost:${hub.port}/rpc` }, 'destination-refused');
    assert.match(broker.message, /is the broker/);
    assert.equal(hub.connections, 0);
    const strict = setup({}, false);
    const loopback = await refused(strict, { url: url('/hello') }, 'destination-refused');
    assert.match(loopback.message, /localhost resolves to a loopback address of the agent host/);
  });

  test('a redirect to another host is returned with its Location, never followed', async () => {
    const before = elsewhere.connections;
    const out = await fetched(setup(), { url: url('/redirect') });
    assert.equal(out.status, 302);
    assert.deepEqual(out.headers, { location: `http://127.0.0.1:${elsewhere.port}/stolen` }, 'the Location, not the cookie');
    assert.equal(out.body, 'moved');
    assert.equal(elsewhere.connections, before, 'the redirect target was never contacted');
  });

  test('a response of BUDGETS.httpFetchResponseBytes is kept whole; one byte more is cut at the bound and marked truncated; a huge one is not read', async () => {
    const h = setup();
    const exact = await fetched(h, { url: url('/exact') });
    assert.deepEqual([exact.bodyBytes, exact.truncated, (exact.body as string).length], [RESPONSE, false, RESPONSE]);
    const over = await fetched(h, { url: url('/over') });
    assert.deepEqual([over.bodyBytes, over.truncated, over.body], [RESPONSE, true, 'b'.repeat(RESPONSE)]);
    const huge = await fetched(h, { url: url('/huge') });
    assert.deepEqual([huge.bodyBytes, huge.truncated, (huge.body as string).length], [RESPONSE, true, RESPONSE]);
  });

  test('a request body of BUDGETS.httpFetchRequestBytes is sent; one byte more is refused as bad-params before any connection', async () => {
    const h = setup();
    const limit = BUDGETS.httpFetchRequestBytes.limit;
    const sent = await fetched(h, { method: 'PUT', url: url('/upload'), body: 'c'.repeat(limit) });
    assert.equal(sent.body, `PUT /upload ${limit}:${'c'.repeat(20)}`);
    const before = site.connections;
    const over = await refused(h, { method: 'PUT', url: url('/upload'), body: 'c'.repeat(limit + 1) }, 'bad-params');
    assert.match(over.message, /body/);
    assert.equal(site.connections, before);
  });

  test('timeoutMs up to BUDGETS.httpFetchMs is accepted, one more is refused; a hanging server is cut off at the call\'s timeoutMs', async () => {
    const h = setup();
    const atBound = await fetched(h, { url: url('/hello'), timeoutMs: BUDGETS.httpFetchMs.limit });
    assert.equal(atBound.status, 200);
    await refused(h, { url: url('/hello'), timeoutMs: BUDGETS.httpFetchMs.limit + 1 }, 'bad-params');
    const body = fetchIntent(h, { url: url('/hang'), timeoutMs: 500 });
    const t0 = Date.now();
    const [result] = await h.deliver(h.seal(body));
    assert.equal(result?.outcome, 'failed');
    assert.match(result?.message ?? '', /timed out after 500 ms/);
    assert.ok(Date.now() - t0 < 10_000, 'ended on its own deadline');
  });

  test('http_fetch passes the gates of every tool: the certificate, the delegation, the reviewer', async () => {
    const ungranted = setup({ capabilities: ['read_file'] });
    const a = fetchIntent(ungranted, { url: url('/hello') });
    await ungranted.expectRefused(ungranted.seal(a), a.id, 'capability-not-granted');

    const h = setup();
    const b = h.intent({ capability: 'http_fetch', params: { method: 'GET', url: url('/hello'), timeoutMs: 5000 }, delegation: h.delegation({ capabilities: ['read_file'] }) });
    await h.expectRefused(h.seal(b), b.id, 'delegation-capability');

    const reviewed = setup({ approvalRequired: ['http_fetch'] });
    const before = site.requests.length;
    const c = fetchIntent(reviewed, { url: url('/reviewed') });
    const pending = reviewed.deliver(reviewed.seal(c));
    await waitFor('the approval request', () => reviewed.approvalRequests().length === 1, 5000);
    const request = reviewed.approvalRequests()[0]!;
    assert.equal(request.capability, 'http_fetch');
    assert.equal(site.requests.length, before, 'nothing is fetched before the decision');
    reviewed.runner.onApprovalDecision(reviewed.decision(request, 'approve'), reviewed.session);
    const [result] = await pending;
    assert.equal(result?.outcome, 'succeeded', result?.message);
    assert.equal(site.requests.at(-1)?.url, '/reviewed');
  });
});
