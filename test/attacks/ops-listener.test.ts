// The metrics and health listener (--metrics) faces whatever can reach its address: a stranger on the network if
// the operator opens it, and on 127.0.0.1 any web page the operator's browser runs (DNS rebinding). Its budgets
// (sockets, request time, header bytes) hold at the bound and refuse at bound + 1, a Host that is not its own is
// refused, and nothing a peer sends grows its label sets. In-process broker with its real audit log, real sockets.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { get as getHttps } from 'node:https';
import { connect, type Socket } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { audit } from '../../broker/audit/audit-log';
import { startMetricsAndHealth } from '../../broker/ops/metrics-part';
import type { OpsPart } from '../../broker/ops/operations';
import { parseSamples, valueOf } from '../support/prometheus';
import { tempDir, waitFor } from '../support/processes';
import { makeTestPki } from '../support/test-pki';
import { EdgeBroker } from './support/edge-broker';

/** What came back on one raw socket: the status line's code (0 if none) and whether the server closed it. */
interface RawAnswer {
  status: number;
  text: string;
  closed: boolean;
  ms: number;
}

/** Sends `chunks` (the later ones after `gapMs` each) on a fresh socket and reads until the answer is whole or the socket closes. */
function rawRequest(port: number, chunks: string[], gapMs = 0, waitMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const start = Date.now();
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, closed, ms: Date.now() - start });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on('error', () => done(true));
    socket.on('close', () => done(true));
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      const length = /content-length: (\d+)/i.exec(text)?.[1];
      const bodyAt = text.indexOf('\r\n\r\n');
      if (length !== undefined && bodyAt >= 0 && text.length - bodyAt - 4 >= Number(length)) done(false);
    });
    const send = async () => {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (!socket.destroyed) socket.write(chunk);
      }
    };
    socket.on('connect', () => void send());
  });
}

const get = (port: number, path: string, headers: string[] = [`Host: 127.0.0.1:${port}`], method = 'GET') =>
  rawRequest(port, [`${method} ${path} HTTP/1.1\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`]);

describe('the metrics and health listener', () => {
  let edge: EdgeBroker;
  let part: OpsPart;
  let port: number;
  let url: string;
  /** A second listener on the same broker whose request time is short: the time budget is reached in a test's time. */
  let quick: OpsPart;
  let quickPort: number;
  const QUICK_MS = 400;

  const listeningOn = async (from: number) => {
    const line = await waitFor('the ops.listening line', () => edge.audit().slice(from).find((l) => l.event === 'ops.listening'));
    return String(line.url);
  };

  before(async () => {
    edge = await EdgeBroker.start();
    const context = { broker: edge.broker, log: edge.broker.log, dataDir: edge.dataDir, hubUrl: edge.url };
    let from = edge.audit().length;
    part = await startMetricsAndHealth(context, { host: '127.0.0.1', port: 0 });
    url = await listeningOn(from);
    port = Number(new URL(url).port);
    from = edge.audit().length;
    quick = await startMetricsAndHealth(context, { host: '127.0.0.1', port: 0 }, { requestMs: QUICK_MS });
    quickPort = Number(new URL(await listeningOn(from)).port);
  });
  after(async () => {
    await quick?.stop();
    await part?.stop();
    await edge?.stop();
    edge?.remove();
  });

  test('port 0: the address it took is in the audit log, and it answers there', async () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(port, 0);
    const healthz = await get(port, '/healthz');
    assert.equal(healthz.status, 200);
    const readyz = await get(port, '/readyz');
    assert.equal(readyz.status, 200, readyz.text);
    assert.match(readyz.text, /"status":"ready"/);
  });

  test('only GET and HEAD of /metrics, /healthz, /readyz: anything else 404, other methods 405', async () => {
    for (const path of ['/', '/metrics/x', '/healthz/', '/debug', '/../metrics']) assert.equal((await get(port, path)).status, 404, path);
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const answer = await get(port, '/metrics', [`Host: 127.0.0.1:${port}`], method);
      assert.equal(answer.status, 405, method);
      assert.match(answer.text, /allow: GET, HEAD/i);
    }
    const head = await get(port, '/metrics', [`Host: 127.0.0.1:${port}`], 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.text.slice(head.text.indexOf('\r\n\r\n') + 4), '', 'HEAD has no body');
    const metrics = await get(port, '/metrics?x=1');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^vaultysclaw_audit_lines_total \d+$/m);
  });

  test(`BUDGETS.opsMetricsRendersPerSecond: ${BUDGETS.opsMetricsRendersPerSecond.limit} requests in one second each render /metrics, the next gets the same page again, and the next second renders afresh`, async () => {
    // Its own listener with a clock the test moves: the window's edge falls where the test puts it.
    let clock = 1_000_000;
    const from = edge.audit().length;
    const timed = await startMetricsAndHealth({ broker: edge.broker, log: edge.broker.log, dataDir: edge.dataDir, hubUrl: edge.url }, { host: '127.0.0.1', port: 0 }, { now: () => clock });
    try {
      const timedPort = Number(new URL(await listeningOn(from)).port);
      const rendersOn = async () => {
        const answer = await get(timedPort, '/metrics');
        assert.equal(answer.status, 200);
        return valueOf(parseSamples(answer.text.split('\r\n\r\n')[1]!), 'vaultysclaw_metrics_renders_total');
      };
      const limit = BUDGETS.opsMetricsRendersPerSecond.limit;
      for (let i = 1; i <= limit; i++) assert.equal(await rendersOn(), i, `request ${i} of the second is rendered`);
      assert.equal(await rendersOn(), limit, 'one more in the same second: the last page again');
      assert.equal(await rendersOn(), limit);
      clock += 999;
      assert.equal(await rendersOn(), limit, 'still the same second');
      clock += 1;
      assert.equal(await rendersOn(), limit + 1, 'a new second renders afresh');
    } finally {
      await timed.stop();
    }
  });

  test('DNS rebinding: a Host that is not this listener is refused (421); its own address and localhost are served', async () => {
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `127.0.0.1:${port + 1}`, `[::1]:${port}`, '']) {
      assert.equal((await get(port, '/metrics', [`Host: ${host}`])).status, 421, `Host: ${host}`);
    }
    // HTTP/1.0 without any Host header.
    assert.equal((await rawRequest(port, ['GET /metrics HTTP/1.0\r\n\r\n'])).status, 421, 'no Host');
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, '127.0.0.1']) {
      assert.equal((await get(port, '/healthz', [`Host: ${host}`])).status, 200, `Host: ${host}`);
    }
  });

  test('BUDGETS.opsRequestHeaderBytes: headers of exactly the bound are served, one byte more is refused (431)', async () => {
    const host = `127.0.0.1:${port}`;
    // Counted as the budget says: every header name and value; Connection: close is one more header.
    const fixed = 'Host'.length + host.length + 'Connection'.length + 'close'.length + 'X-Pad'.length;
    const pad = (n: number) => `X-Pad: ${'a'.repeat(n)}`;
    const atBound = await get(port, '/healthz', [`Host: ${host}`, pad(BUDGETS.opsRequestHeaderBytes.limit - fixed)]);
    assert.equal(atBound.status, 200, atBound.text.slice(0, 100));
    const over = await get(port, '/healthz', [`Host: ${host}`, pad(BUDGETS.opsRequestHeaderBytes.limit - fixed + 1)]);
    assert.equal(over.status, 431);
    // Far over: node's own parser refuses it before any handler runs, and the listener stays up.
    const huge = await get(port, '/healthz', [`Host: ${host}`, pad(BUDGETS.opsRequestHeaderBytes.limit * 4)]);
    assert.ok(huge.status === 431 || (huge.status === 0 && huge.closed), `answered ${huge.status}`);
    assert.equal((await get(port, '/healthz')).status, 200);
  });

  test('BUDGETS.opsRequestMs: a request whole within the time is served; a sender still trickling past it is cut off', async () => {
    const request = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${quickPort}\r\nConnection: close\r\n\r\n`;
    const withinTime = await rawRequest(quickPort, [request.slice(0, 10), request.slice(10)], QUICK_MS / 4);
    assert.equal(withinTime.status, 200);
    // One header line every QUICK_MS / 4, never finishing: the socket is closed (408 or reset) once QUICK_MS is spent.
    const trickle = [request.slice(0, 30), ...Array.from({ length: 40 }, (_, i) => `X-${i}: ${i}\r\n`)];
    const slow = await rawRequest(quickPort, trickle, QUICK_MS / 4, 10_000);
    assert.ok(slow.closed || slow.status === 408, `a slow sender kept its socket: ${JSON.stringify(slow)}`);
    assert.notEqual(slow.status, 200);
    assert.ok(slow.ms >= QUICK_MS, `cut off after ${slow.ms} ms, before the budget`);
    assert.ok(slow.ms < 40 * (QUICK_MS / 4), 'cut off before it finished trickling');
    // An idle socket that sends nothing is closed too.
    const idle = await rawRequest(quickPort, [], 0, 10_000);
    assert.equal(idle.closed, true);
    assert.ok(idle.ms >= QUICK_MS);
    assert.equal(BUDGETS.opsRequestMs.limit > QUICK_MS, true, 'the default is the budget row, longer than this seam');
  });

  test('BUDGETS.opsConnections: that many sockets at once are all served; one more is closed at once, and is served once one leaves', async () => {
    const held: Socket[] = [];
    const answered = (socket: Socket) =>
      new Promise<string>((resolve, reject) => {
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk.toString();
          if (/\r\n\r\n[\s\S]*ok\n$/.test(text)) resolve(text);
        });
        socket.once('close', () => reject(new Error(`closed after ${JSON.stringify(text)}`)));
      });
    const open = async () => {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      const reply = answered(socket);
      socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`);
      return { socket, reply };
    };
    try {
      for (let i = 0; i < BUDGETS.opsConnections.limit; i++) {
        const { socket, reply } = await open();
        held.push(socket);
        assert.match(await reply, /^HTTP\/1\.1 200/, `socket ${i + 1} of ${BUDGETS.opsConnections.limit}`);
      }
      const over = await get(port, '/healthz');
      assert.equal(over.status, 0, 'the socket past the bound got no answer');
      assert.equal(over.closed, true, 'and was closed');
      held.pop()!.destroy();
      const again = await waitFor('a slot to free', async () => {
        const answer = await get(port, '/healthz');
        return answer.status === 200 ? answer : undefined;
      });
      assert.equal(again.status, 200);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });

  test('over TLS (--metrics-tls-cert): served by the name in the certificate, whatever the Host; plain HTTP gets nothing', async () => {
    const pki = makeTestPki(tempDir('ops-pki'));
    const from = edge.audit().length;
    const context = { broker: edge.broker, log: edge.broker.log, dataDir: edge.dataDir, hubUrl: edge.url };
    const secure = await startMetricsAndHealth(context, { host: '127.0.0.1', port: 0, tls: { cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) } });
    try {
      const at = new URL(await listeningOn(from));
      assert.equal(at.protocol, 'https:');
      const status = await new Promise<number>((resolve, reject) => {
        const request = getHttps({ host: '127.0.0.1', port: Number(at.port), path: '/healthz', ca: readFileSync(pki.ca), headers: { host: 'broker.example' }, checkServerIdentity: (_name, cert) => checkServerIdentity('127.0.0.1', cert) }, (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', reject);
      });
      assert.equal(status, 200, 'a page cannot rebind a name onto a certificate it does not hold: any Host is served');
      assert.equal((await get(Number(at.port), '/healthz')).status, 0, 'plain HTTP is not answered');
    } finally {
      await secure.stop();
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });

  test('labels stay bounded: 1000 distinct values a hostile peer puts in refusals, capabilities, states and ids add no series', async () => {
    const before = parseSamples((await get(port, '/metrics')).text.split('\r\n\r\n')[1]!);
    const series = (samples: typeof before) => samples.filter((s) => s.name.startsWith('vaultysclaw_')).map((s) => `${s.name}${JSON.stringify(s.labels)}`);
    const writer = audit(edge.broker.log);
    for (let i = 0; i < 1000; i++) {
      const hostile = `hostile-${i}-${'x'.repeat(i % 50)}`;
      writer.line('warn', { event: 'auth.refused', did: `did:vaultys:${i}`, code: hostile, detail: hostile }, 'refused');
      writer.line('warn', { event: 'auth.refused', kind: 'user', did: `did:vaultys:${i}`, reason: hostile }, 'refused');
      writer.line('warn', { event: 'auth.refused-summary', intervalMs: 1, suppressed: 2, reasons: { [`auth.refused:${hostile}`]: 1, [hostile]: 1 }, addresses: { [hostile]: 2 } }, 'summary');
      writer.line('info', { event: 'approval.requested', requestId: hostile, intentId: hostile, agent: hostile, user: hostile, capability: hostile as 'read_file', expiresAt: i }, 'asked');
      writer.line('info', { event: 'audit.checkpoint', reason: hostile as 'lines', seq: i, head: hostile, broker: hostile, brokerId: hostile, signature: hostile }, 'not a real checkpoint');
      writer.line('info', { event: 'intent.result', intentId: hostile, agent: hostile, outcome: hostile as 'failed', reason: hostile }, 'result');
    }
    const afterAll = parseSamples((await get(port, '/metrics')).text.split('\r\n\r\n')[1]!);
    const grown = series(afterAll).filter((s) => !series(before).includes(s));
    // At most one new series per metric and fixed label: the "other" value, whatever came in.
    assert.ok(grown.length <= 6, `new series: ${grown.join('\n')}`);
    for (const sample of afterAll) assert.doesNotMatch(JSON.stringify(sample.labels), /hostile|did:vaultys/, `${sample.name} has a label a peer chose`);
    // Counted all the same, under "other": the agent's and the user's refusals and the summary's auth.refused key (its
    // key naming no handshake event is not a handshake).
    assert.equal(valueOf(afterAll, 'vaultysclaw_handshakes_total', { outcome: 'refused', reason: 'other' }) - valueOf(before, 'vaultysclaw_handshakes_total', { outcome: 'refused', reason: 'other' }), 3000);
    assert.equal(valueOf(afterAll, 'vaultysclaw_approvals_requested_total', { capability: 'other' }), 1000);
    assert.equal(valueOf(afterAll, 'vaultysclaw_audit_checkpoints_total', { reason: 'other' }), 1000);
  });
});
