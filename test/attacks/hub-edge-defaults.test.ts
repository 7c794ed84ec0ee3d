/**
 * The hub's edge budgets at their defaults, in a real broker process started with default flags (issue 13,
 * finding 5): the limits test/attacks/hub-edge.test.ts lowers to reach quickly are in force, read from
 * core/budgets.ts, over real sockets on 127.0.0.1. Bounded by the default upgrade and handshake times (10 s).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { startBroker, waitFor, type BrokerProcess } from '../support/processes';
import { RawSocket, SilentTcp, upgradeRefusal } from './support/edge-broker';
import { auditLines } from './support/team';

let broker: BrokerProcess;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker?.kill();
});

const REFUSAL_EVENTS = new Set(['hub.refused', 'auth.timeout', 'auth.refused']);

test('Defaults: BUDGETS.unauthenticatedSocketsPerAddress strangers held, the next refused 503; each reaped after BUDGETS.hubUpgradeMs, BUDGETS.agentHandshakeMs or BUDGETS.rpcHandshakeMs; refusals audited within BUDGETS.refusalAuditLines per BUDGETS.refusalSummaryMs, the rest summarised', async () => {
  const port = Number(new URL(broker.url).port);
  const perAddress = BUDGETS.unauthenticatedSocketsPerAddress.limit;
  const openedAt = Date.now();
  const silent = await Promise.all(Array.from({ length: perAddress - 2 }, () => SilentTcp.open(port)));
  const rpc = await RawSocket.open(broker.url, { path: '/rpc' });
  const agent = await RawSocket.open(broker.url);
  const refused = await upgradeRefusal(RawSocket.open(broker.url, { path: '/rpc' }));
  assert.deepEqual({ status: refused.status, body: refused.body }, { status: 503, body: 'too-many-unauthenticated-from-address' });

  // More refused logins than the budget of full lines, from another address (whose strangers' slots are free).
  const loginsPerSocket = BUDGETS.preAuthFrames.limit;
  const flooders = await Promise.all(Array.from({ length: 3 }, () => RawSocket.open(broker.url, { path: '/rpc', localAddress: '127.0.0.2' })));
  for (const f of flooders) for (let i = 1; i <= loginsPerSocket; i++) f.sendRefusedLogin(i);
  await waitFor('every refused login answered', () => flooders.every((f) => f.texts.length === loginsPerSocket) || undefined);
  for (const f of flooders) f.close();

  const bound = BUDGETS.hubUpgradeMs.limit + 10_000;
  await waitFor('every silent TCP connection reaped', () => silent.every((s) => s.ended) || undefined, bound);
  assert.deepEqual(await rpc.waitClosed(BUDGETS.rpcHandshakeMs.limit + 10_000), { code: 4002, reason: 'handshake timeout' });
  assert.deepEqual(await agent.waitClosed(BUDGETS.agentHandshakeMs.limit + 10_000), { code: 4002, reason: 'handshake timeout' });
  const shortest = Math.min(BUDGETS.hubUpgradeMs.limit, BUDGETS.rpcHandshakeMs.limit, BUDGETS.agentHandshakeMs.limit);
  assert.ok(Date.now() - openedAt >= shortest - 500, 'reaped by the timers, not at once');
  // The slots are free again.
  (await RawSocket.open(broker.url, { path: '/rpc' })).close();

  await broker.stop();
  const lines = auditLines(broker.dataDir);
  const full = lines.filter((l) => REFUSAL_EVENTS.has(String(l.event)));
  const summaries = lines.filter((l) => l.event === 'auth.refused-summary');
  const suppressed = summaries.reduce((n, s) => n + Number(s.suppressed), 0);
  const expected = 1 + (perAddress - 2) + 2 + 3 * loginsPerSocket; // the 503, the reaped, the two timed out, the refused logins
  assert.equal(full.length + suppressed, expected, 'every refusal written or counted');
  assert.ok(summaries.length >= 1, 'the refusals past the budget are summarised');
  assert.ok(full.length <= BUDGETS.refusalAuditLines.limit * (summaries.length + 1), `${full.length} full lines for ${summaries.length} summaries`);
  for (const s of summaries) assert.equal(s.intervalMs, BUDGETS.refusalSummaryMs.limit);
});
