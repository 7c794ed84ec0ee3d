/**
 * The hub's edge against strangers and web pages (issue 13, findings 5 and 12): a peer that has not
 * authenticated gets a bounded time, a bounded number of frames and a bounded number of sockets, a browser
 * origin is refused before the upgrade, a slow reader is cut off, and what strangers are refused reaches the
 * hash-chained audit log as a bounded number of lines. Every bound is tested at the bound and at the bound + 1
 * over real sockets on 127.0.0.1 (in-process brokers with their real audit.log; limits lowered where the
 * default would take long to reach).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { createMessageConnection } from 'vscode-jsonrpc';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import { RpcErrorCode } from '../../core/rpc/methods';
import { authenticateUser } from '../../core/rpc/user-session';
import { WebSocketMessageReader, WebSocketMessageWriter } from '../../core/rpc/websocket-transport';
import { encodeFrame } from '../../core/wire/frame-codec';
import { MAX_HUB_FRAME_BYTES } from '../../core/wire/hub-messages';
import { waitFor } from '../support/processes';
import { EdgeBroker, RawSocket, SilentTcp, upgradeRefusal, type EdgeHubOptions } from './support/edge-broker';
import { RogueAgent } from './support/rogue-agent';

const withBroker = (hub: EdgeHubOptions, run: (edge: EdgeBroker) => Promise<void>) => EdgeBroker.audited(run, hub);

/** The refusals answered on `raw` (JSON-RPC errors Unauthenticated). */
function refusalsAnswered(raw: RawSocket): number {
  return raw.texts.filter((m) => (m.error as { code?: number } | undefined)?.code === RpcErrorCode.Unauthenticated).length;
}

/** An authenticated /rpc session of `user` on a raw socket the test can stop reading. */
async function userSession(edge: EdgeBroker, user: SecretIdentity): Promise<WebSocket> {
  const socket = new WebSocket(`${edge.url}/rpc`, { perMessageDeflate: false, maxPayload: MAX_HUB_FRAME_BYTES });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const connection = createMessageConnection(new WebSocketMessageReader(socket), new WebSocketMessageWriter(socket));
  connection.listen();
  await authenticateUser((method, params) => connection.sendRequest(method, params), user, edge.broker.identity.did, { name: 'operator' });
  connection.dispose();
  return socket;
}

describe('hub edge: strangers get bounded time, frames and sockets (finding 5)', () => {
  test('Unauthenticated DoS (/rpc): BUDGETS.preAuthFrames refused logins are answered on one socket; frame BUDGETS.preAuthFrames + 1 closes it with 4008', async () => {
    await withBroker({}, async (edge) => {
      const atBound = await RawSocket.open(edge.url, { path: '/rpc' });
      for (let i = 1; i <= BUDGETS.preAuthFrames.limit; i++) atBound.sendRefusedLogin(i);
      await waitFor('every refused login answered', () => refusalsAnswered(atBound) === BUDGETS.preAuthFrames.limit || undefined);
      assert.equal(atBound.closed, undefined, 'the socket stays open at the bound');
      atBound.sendRefusedLogin(BUDGETS.preAuthFrames.limit + 1);
      assert.deepEqual(await atBound.waitClosed(), { code: 4008, reason: 'too many frames before authentication' });
      assert.equal(refusalsAnswered(atBound), BUDGETS.preAuthFrames.limit, 'the frame over the budget is not read');
    });
  });

  test('Unauthenticated DoS (/rpc): a socket that never logs in is closed with 4002 after the handshake time (BUDGETS.rpcHandshakeMs, 300 ms here); a user who logs in in time stays', async () => {
    await withBroker({ rpcHandshakeTimeoutMs: 300 }, async (edge) => {
      const silent = await RawSocket.open(edge.url, { path: '/rpc' });
      const started = Date.now();
      assert.deepEqual(await silent.waitClosed(5000), { code: 4002, reason: 'handshake timeout' });
      assert.ok(Date.now() - started >= 250, 'closed by the timer, not at once');
      const user = await userSession(edge, edge.operator);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(user.readyState, WebSocket.OPEN, 'an authenticated session is not cut off by the handshake timer');
      user.close();
      const timeouts = edge.audit().filter((l) => l.event === 'auth.timeout');
      assert.equal(timeouts.length, 1);
      assert.equal(timeouts[0]!.remote, '127.0.0.1');
    });
  });

  test('Unauthenticated DoS: a TCP connection that never sends a byte, or never finishes its upgrade, is destroyed after BUDGETS.hubUpgradeMs (300 ms here)', async () => {
    await withBroker({ upgradeTimeoutMs: 300 }, async (edge) => {
      const silent = await SilentTcp.open(edge.port);
      const trickle = await SilentTcp.open(edge.port);
      trickle.socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
      const started = Date.now();
      await waitFor('the silent connection to be destroyed', () => silent.ended || undefined, 5000);
      await waitFor('the trickling connection to be destroyed', () => trickle.ended || undefined, 5000);
      assert.ok(Date.now() - started >= 250, 'destroyed by the timer, not at once');
      // A WebSocket that upgrades in time is not reaped by the same timer.
      const honest = await RawSocket.open(edge.url, { path: '/rpc' });
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(honest.closed, undefined);
      honest.close();
    });
  });

  test('Unauthenticated DoS: BUDGETS.unauthenticatedSocketsPerAddress (4 here) sockets from one address are accepted, the next is refused 503; a closed one frees its slot', async () => {
    await withBroker({ connections: { unauthenticatedPerAddress: 4, unauthenticated: 100 } }, async (edge) => {
      const held = await Promise.all(Array.from({ length: 4 }, () => SilentTcp.open(edge.port)));
      const refused = await upgradeRefusal(RawSocket.open(edge.url, { path: '/rpc' }));
      assert.deepEqual({ status: refused.status, body: refused.body }, { status: 503, body: 'too-many-unauthenticated-from-address' });
      // Another address still gets in: the cap is per address.
      const other = await RawSocket.open(edge.url, { path: '/rpc', localAddress: '127.0.0.2' });
      other.close();
      held[0]!.close();
      await waitFor('a freed slot', async () => {
        try {
          const again = await RawSocket.open(edge.url, { path: '/rpc' });
          again.close();
          return true;
        } catch {
          return undefined;
        }
      });
      for (const s of held) s.close();
      assert.ok(edge.audit().some((l) => l.event === 'hub.refused' && l.code === 'too-many-unauthenticated-from-address'));
    });
  });

  test('Unauthenticated DoS: BUDGETS.unauthenticatedSockets (5 here) across addresses are accepted, the next is refused 503 whatever its address', async () => {
    await withBroker({ connections: { unauthenticatedPerAddress: 3, unauthenticated: 5 } }, async (edge) => {
      const held = [
        ...(await Promise.all(Array.from({ length: 3 }, () => SilentTcp.open(edge.port, '127.0.0.2')))),
        ...(await Promise.all(Array.from({ length: 2 }, () => SilentTcp.open(edge.port, '127.0.0.3')))),
      ];
      const refused = await upgradeRefusal(RawSocket.open(edge.url, { path: '/rpc', localAddress: '127.0.0.4' }));
      assert.deepEqual({ status: refused.status, body: refused.body }, { status: 503, body: 'too-many-unauthenticated' });
      for (const s of held) s.close();
    });
  });

  test('Authenticated sockets have their own budget: with 2 stranger slots per address, 3 agents authenticate one by one (BUDGETS.authenticatedSocketsPerAddress, 3 here); a 4th is closed 4009', async () => {
    await withBroker({ connections: { unauthenticatedPerAddress: 2, authenticatedPerAddress: 3 } }, async (edge) => {
      const did = edge.broker.identity.did;
      const agents = [];
      for (let i = 0; i < 3; i++) agents.push((await new RogueAgent(SecretIdentity.generate(IdType.Machine), edge.url, did).authenticate()).hub);
      // Authenticated sockets left the strangers' budget: two strangers still get in.
      const strangers = await Promise.all([SilentTcp.open(edge.port), SilentTcp.open(edge.port)]);
      for (const s of strangers) s.close();
      await waitFor('the strangers gone', () => strangers.every((s) => s.ended) || undefined);
      const fourth = await new RogueAgent(SecretIdentity.generate(IdType.Machine), edge.url, did).authenticate();
      assert.deepEqual(await fourth.hub.waitClosed(), { code: 4009, reason: 'too-many-from-address' });
      for (const hub of agents) assert.equal(hub.closed, undefined, 'the agents within the budget keep their connection');
      for (const hub of agents) hub.close();
    });
  });

  test('Unauthenticated DoS (agent path): a burst of 500 frames before authenticating closes the socket at the first refusal; the rest are not read, nor audited one by one', async () => {
    const lines = await withBroker({}, async (edge) => {
      const raw = await RawSocket.open(edge.url);
      const pin = encodeFrame({ type: 'pin/migrated', root: 'did:vaultys:' + '0'.repeat(40) });
      for (let i = 0; i < 500; i++) raw.socket.send(pin, { binary: true });
      const closed = await raw.waitClosed();
      assert.equal(closed.code, 4001);
    });
    const refused = lines.filter((l) => l.event === 'hub.refused' && l.code === 'unauthenticated');
    assert.ok(refused.length >= 1, 'the refusal is audited');
    assert.ok(refused.length <= BUDGETS.refusalAuditLines.limit, `${refused.length} refusal lines for one socket`);
  });

  test('Refused-login flood: at BUDGETS.refusalAuditLines (3 here) refusals are written in full with no summary; one more is counted into one auth.refused-summary line', async () => {
    const atBound = await withBroker({ refusalAudit: { linesPerInterval: 3, intervalMs: 60_000 } }, async (edge) => {
      const raw = await RawSocket.open(edge.url, { path: '/rpc' });
      for (let i = 1; i <= 3; i++) raw.sendRefusedLogin(i);
      await waitFor('3 refusals', () => refusalsAnswered(raw) === 3 || undefined);
      raw.close();
    });
    assert.equal(atBound.filter((l) => l.event === 'auth.refused').length, 3);
    assert.equal(atBound.filter((l) => l.event === 'auth.refused-summary').length, 0);
    const over = await withBroker({ refusalAudit: { linesPerInterval: 3, intervalMs: 60_000 } }, async (edge) => {
      const raw = await RawSocket.open(edge.url, { path: '/rpc' });
      for (let i = 1; i <= 4; i++) raw.sendRefusedLogin(i);
      await waitFor('4 refusals', () => refusalsAnswered(raw) === 4 || undefined);
      raw.close();
    });
    assert.equal(over.filter((l) => l.event === 'auth.refused').length, 3);
    const summaries = over.filter((l) => l.event === 'auth.refused-summary');
    assert.equal(summaries.length, 1);
    assert.equal(summaries[0]!.suppressed, 1);
    assert.deepEqual(summaries[0]!.addresses, { '127.0.0.1': 1 });
    assert.equal(Object.keys(summaries[0]!.reasons as object).length, 1);
  });

  test('Refused-login flood: sockets that each send their whole frame budget of refused logins for 1.5 s leave at most BUDGETS.refusalAuditLines full lines per BUDGETS.refusalSummaryMs interval (5 per 400 ms here) plus one summary each; every refusal is counted', async () => {
    const intervalMs = 400;
    let answered = 0;
    const started = Date.now();
    const lines = await withBroker({ refusalAudit: { linesPerInterval: 5, intervalMs } }, async (edge) => {
      for (let n = 0; n < 200 && Date.now() - started < 1500; n++) {
        const raw = await RawSocket.open(edge.url, { path: '/rpc' });
        for (let i = 1; i <= BUDGETS.preAuthFrames.limit; i++) raw.sendRefusedLogin(i);
        await waitFor('the socket’s refusals', () => refusalsAnswered(raw) === BUDGETS.preAuthFrames.limit || undefined);
        answered += refusalsAnswered(raw);
        raw.close();
      }
    });
    const elapsed = Date.now() - started;
    const full = lines.filter((l) => l.event === 'auth.refused');
    const summaries = lines.filter((l) => l.event === 'auth.refused-summary');
    const counted = summaries.reduce((n, s) => n + Number((s.reasons as Record<string, number>)['auth.refused:malformed'] ?? 0), 0);
    const intervals = Math.ceil(elapsed / intervalMs) + 1;
    assert.ok(answered >= 100, `the flood made ${answered} refusals`);
    assert.ok(full.length <= 5 * intervals, `${full.length} full refusal lines in ${intervals} intervals`);
    assert.ok(summaries.length <= intervals, `${summaries.length} summaries in ${intervals} intervals`);
    assert.equal(full.length + counted, answered, 'every refusal is either written or counted');
  });
});

describe('hub edge: web pages (finding 12)', () => {
  test('Pending-agent reconnect loop: the connects and disconnects of an agent never approved stay within BUDGETS.refusalAuditLines (3 here) full lines plus one summary', async () => {
    const rounds = 10;
    const lines = await withBroker({ refusalAudit: { linesPerInterval: 3, intervalMs: 60_000 } }, async (edge) => {
      const pending = new RogueAgent(SecretIdentity.generate(IdType.Machine), edge.url, edge.broker.identity.did);
      for (let i = 0; i < rounds; i++) {
        const { hub, status } = await pending.authenticate();
        assert.equal(status, 'pending');
        hub.close();
        await hub.waitClosed();
      }
      await waitFor('the last disconnect', () => edge.broker.online.get(pending.did) === undefined || undefined);
    });
    const own = lines.filter((l) => l.event === 'auth.succeeded' || l.event === 'agent.offline');
    // 2 lines a round (connect, disconnect) would be 20; the budget writes 3 and counts the rest.
    assert.ok(own.length <= 3, `${own.length} connect/disconnect lines for ${rounds} rounds`);
    const summary = lines.find((l) => l.event === 'auth.refused-summary');
    assert.ok(summary, 'the rest is counted in a summary');
    assert.equal(Number(summary.suppressed) + own.length, 2 * rounds, 'every connect and disconnect is accounted for');
    assert.equal(lines.filter((l) => l.event === 'registration.pending').length, 1, 'the registration itself is written once, in full');
  });

  test('Browser origin: a WebSocket upgrade with an Origin header is refused 403 on the agent path and on /rpc, before any handshake; without Origin it opens', async () => {
    await withBroker({}, async (edge) => {
      for (const path of ['', '/rpc']) {
        const refused = await upgradeRefusal(RawSocket.open(edge.url, { path, origin: 'https://attacker.example' }));
        assert.deepEqual({ status: refused.status, body: refused.body }, { status: 403, body: 'browser origins are refused' });
        const local = await upgradeRefusal(RawSocket.open(edge.url, { path, origin: 'http://127.0.0.1:8080' }));
        assert.equal(local.status, 403, 'a page served from the host itself is a web page too');
      }
      const plain = await RawSocket.open(edge.url, { path: '/rpc' });
      plain.close();
      assert.ok(edge.audit().some((l) => l.event === 'hub.refused' && l.code === 'browser-origin' && l.origin === 'https://attacker.example'));
    });
  });
});

describe('hub edge: slow readers and failing handlers', () => {
  test('Slow reader (/rpc): a user that sends requests and stops reading is cut off once the broker holds BUDGETS.peerBufferedBytes for it, not buffered for', async () => {
    await withBroker({}, async (edge) => {
      const socket = await userSession(edge, edge.operator);
      socket.pause();
      let closed = false;
      socket.on('close', () => (closed = true));
      const request = (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'vaultysclaw/broker/info', params: {} });
      // Each answer is ~600 bytes: 100 000 of them are far more than the kernel's buffers and the budget together.
      for (let id = 0; id < 100_000 && !closed && socket.readyState === WebSocket.OPEN; id++) {
        socket.send(request(id));
        if (id % 2000 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      const line = await waitFor('rpc.backpressure', () => edge.audit().find((l) => l.event === 'rpc.backpressure'), 20_000);
      assert.ok(Number(line.buffered) > BUDGETS.peerBufferedBytes.limit);
      socket.terminate();
    });
  });

  test('A handler that throws (the database gone when an authenticated agent disconnects) is logged as hub.internal-error; the broker keeps accepting sockets', async () => {
    const edge = await EdgeBroker.start();
    const errors: unknown[] = [];
    const onUncaught = (err: unknown) => errors.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const agent = await new RogueAgent(SecretIdentity.generate(IdType.Machine), edge.url, edge.broker.identity.did).authenticate();
      await edge.broker.storage.close();
      agent.hub.close();
      await waitFor('the close handler to fail', () => edge.audit().find((l) => l.event === 'hub.internal-error'), 5000);
      const after = await RawSocket.open(edge.url, { path: '/rpc' });
      after.sendRefusedLogin(1);
      await waitFor('a refused login answered', () => refusalsAnswered(after) === 1 || undefined);
      after.close();
      assert.deepEqual(errors, [], 'nothing escaped to the process');
    } finally {
      process.off('uncaughtException', onUncaught);
      await edge.stop().catch(() => undefined);
      edge.remove();
    }
  });
});
