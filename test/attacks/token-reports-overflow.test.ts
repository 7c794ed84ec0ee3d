/**
 * Review finding 1 (critical): a compromised but approved agent holds ~1 000 intents, then signs progress
 * frames claiming `Number.MAX_SAFE_INTEGER` tokens for each, on a day of its choosing. The broker summed them
 * in SQLite (integer overflow), threw from the socket close handler and exited — and again at every reconnect —
 * while agentsList failed for every user. Against a real broker process: the reports are bounded (a day in the
 * window, at most the certified daily budget per intent, only intents in flight), the sums cannot overflow,
 * the broker stays up across a restart and the rogue's reconnect, and an honest agent and a viewer never notice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IdType, seal, SecretIdentity } from '../../core/identity';
import { BUDGETS } from '../../core/budgets';
import { utcDay } from '../../core/policy/utc-day';
import type { ProgressBody } from '../../core/wire/intent';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { approve, assertAlive, bounded } from './support/fleet';
import { RogueAgent, type HubSocket } from './support/rogue-agent';
import { call, connectAs, finalIntent, joinAs, ownerOf, type Member } from './support/team';

exitIfHeldOpen(40_000);
const started = new Started();
const sockets: HubSocket[] = [];
const DAY_MS = 24 * 60 * 60_000;
/** Enough reports of MAX_SAFE_INTEGER that their integer sum passes 2^63. */
const INTENTS = Math.ceil(2 ** 63 / Number.MAX_SAFE_INTEGER) + 8;

let broker: BrokerProcess;
let honest: AgentProcess;
let owner: Member;
let viewer: Member;

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  honest = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, name: 'honest', request: 'read_file,list_files' });
  await approve(broker, honest);
  viewer = await joinAs(broker, owner, 'viewer', 'viewer');
});

after(async () => {
  for (const s of sockets) s.close();
  viewer?.client.close();
  await started.cleanup();
});

/** An approved rogue with a 1 000-token day and room for every intent of the attack, connected with its v1 certificate. */
async function approvedRogue(name: string, maxTokensPerDay = 1000): Promise<{ rogue: RogueAgent; hub: HubSocket }> {
  const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name, requested: ['list_files'], agentVersion: '0.0.0-rogue' });
  const first = await bounded('rogue handshake', rogue.authenticate());
  first.hub.close();
  await call(owner, 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['list_files'], maxRequestsPerHour: 5000, maxTokensPerDay } });
  const { hub } = await bounded('approved handshake', rogue.authenticate());
  sockets.push(hub);
  return { rogue, hub };
}

function report(rogue: RogueAgent, intentId: string, day: string, tokens: number, seq = 0) {
  const body: ProgressBody = { intentId, agent: rogue.did, seq, stream: 'status', text: 'step', at: Date.now(), usage: { day, tokens } };
  return { type: 'progress', envelope: seal(rogue.identity, 'vaultysclaw/progress/v1', body) };
}

const tokensToday = async (did: string) => (await call(owner, 'agentsGet', { did })).usage.tokensToday;

/** An honest intent and a viewer's agentsList, each bounded: what every other party must keep getting. */
async function othersStillServed(): Promise<void> {
  const sent = await call(owner, 'intentsDispatch', { agent: honest.did, capability: 'list_files', params: { path: '.' } });
  assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
  assert.equal((await finalIntent(owner, sent.id, 20_000)).state, 'succeeded');
  const agents = await call(viewer, 'agentsList', {});
  assert.ok(agents.items.some((a) => a.did === honest.did && a.online), 'the viewer still sees the honest agent online');
}

describe('a compromised agent reports extreme token counts', () => {
  test('Compromised agent: MAX_SAFE_INTEGER tokens on ~1 000 intents in flight neither crash the broker (now, or at its restart and the rogue reconnect) nor stop an honest agent or a viewer', async () => {
    const { rogue, hub } = await approvedRogue('overflow');
    const ids: string[] = [];
    for (let i = 0; i < INTENTS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, INTENTS - i) }, () => call(owner, 'intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: '.' } })),
      );
      for (const sent of batch) {
        assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
        ids.push(sent.id);
      }
    }
    const day = utcDay(Date.now());
    // Under the frame rate: 100 signed reports, then a pause, so no hub limit ends the attack for the broker.
    for (let i = 0; i < ids.length; i += 100) {
      for (const id of ids.slice(i, i + 100)) hub.send(report(rogue, id, day, Number.MAX_SAFE_INTEGER));
      await new Promise((r) => setTimeout(r, 1100));
      assertAlive(broker);
    }
    // A day of its choosing, far in the future: counted on no day.
    hub.send(report(rogue, ids[0]!, '2999-12-31', Number.MAX_SAFE_INTEGER));
    // ~1 000 clamped reports used up this connection's refusal lines (BUDGETS.agentRefusalAuditLines): that one is counted in a summary.
    const counted = (l: Record<string, unknown>) => (l.reasons as Record<string, number>)['tokens.refused:day-out-of-window'] ?? 0;
    await broker.log.waitFor('agent.refused-summary', (l) => l.did === rogue.did && counted(l) === 1, BUDGETS.refusalSummaryMs.limit + 15_000);
    const clampedLines = broker.log.lines.filter((l) => l.event === 'tokens.clamped' && l.did === rogue.did).length;
    assert.ok(clampedLines < ids.length / 4, `${clampedLines} of ${ids.length} clamped reports written one by one`);
    // Each report clamped to the certified daily budget: the total is what ~1 000 budgets add up to, exactly.
    await waitFor('every report counted', async () => (await tokensToday(rogue.did)) === ids.length * 1000, 30_000);
    assertAlive(broker);
    await othersStillServed();

    // The rogue's socket closes (its intents go away with it), the broker restarts, the rogue comes back.
    hub.close();
    await broker.log.waitFor('agent.offline', (l) => l.did === rogue.did, 15_000);
    assertAlive(broker);
    const port = Number(new URL(broker.url).port);
    const honestMark = honest.log.lines.length;
    await broker.stop();
    broker = await started.broker({ dataDir: broker.dataDir, port });
    owner = ownerOf(broker);
    await waitFor('the honest agent back', () => honest.log.lines.slice(honestMark).find((l) => l.event === 'auth.succeeded' && l.status === 'approved'), 30_000);
    const back = await bounded('the rogue reconnects', rogue.authenticate());
    sockets.push(back.hub);
    assert.equal(back.status, 'approved');
    assert.equal(await tokensToday(rogue.did), ids.length * 1000);
    back.hub.close();
    await broker.log.waitFor('agent.offline', (l) => l.did === rogue.did, 15_000);
    assertAlive(broker);
    viewer.client.close();
    viewer = { ...viewer, client: await connectAs(broker, viewer.identity, 'viewer') };
    await othersStillServed();
  });

  test(`Runaway report: a report is counted at most up to the certificate's maxTokensPerDay (bound ${'\u2264'} BUDGETS.tokensPerIntentDay), for today or yesterday only (BUDGETS.tokenReportDays), and only on an intent in flight`, async () => {
    const budget = 1000;
    const { rogue, hub } = await approvedRogue('bounds', budget);
    const dispatch = async () => {
      const sent = await call(owner, 'intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: '.' } });
      assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
      await hub.next('intent');
      return sent.id;
    };
    const now = Date.now();
    const today = utcDay(now);
    const oldest = utcDay(now - (BUDGETS.tokenReportDays.limit - 1) * DAY_MS);
    const tooOld = utcDay(now - BUDGETS.tokenReportDays.limit * DAY_MS);
    const tomorrow = utcDay(now + DAY_MS);
    const [atBound, overBound, old, future] = [await dispatch(), await dispatch(), await dispatch(), await dispatch()];
    const mark = broker.log.lines.length;

    hub.send(report(rogue, atBound, today, budget)); // at the bound: counted as is
    hub.send(report(rogue, overBound, today, budget + 1)); // bound + 1: counted as the bound
    hub.send(report(rogue, old, oldest, 7)); // the oldest day in the window: counted on that day
    hub.send(report(rogue, old, tooOld, 7)); // one day further back: refused
    hub.send(report(rogue, future, tomorrow, 7)); // a day that has not begun: refused
    await waitFor('both today reports counted', async () => (await tokensToday(rogue.did)) === 2 * budget);
    const clamped = await broker.log.waitFor('tokens.clamped', (l) => l.intentId === overBound);
    assert.equal(clamped.claimed, budget + 1);
    assert.equal(clamped.counted, budget);
    await broker.log.waitFor('tokens.reported', (l) => l.intentId === old);
    const refusedDays = () => broker.log.lines.slice(mark).filter((l) => l.event === 'tokens.refused' && l.did === rogue.did).map((l) => l.day);
    await waitFor('two days refused', () => refusedDays().length === 2);
    assert.deepEqual(refusedDays().sort(), [tomorrow, tooOld].sort());
    assert.equal(broker.log.lines.slice(mark).find((l) => l.event === 'tokens.clamped' && l.intentId === atBound), undefined, 'the bound itself is not clamped');

    // Once its intent has ended, a report on it counts for nothing.
    hub.send({ type: 'result', envelope: rogue.result({ intentId: atBound, outcome: 'succeeded', reason: null, message: 'done', output: { entries: [] } }) });
    await hub.next('result/ack', (f) => f.intentId === atBound);
    hub.send(report(rogue, atBound, today, budget, 1));
    const ended = await broker.log.waitFor('tokens.refused', (l) => l.intentId === atBound && l.reason === 'intent-not-in-flight');
    assert.equal(ended.did, rogue.did);
    assert.equal(await tokensToday(rogue.did), 2 * budget);

    // The ceiling of every certified budget, at the bound and past it.
    const policy = (maxTokensPerDay: number) => call(owner, 'policySet', { did: rogue.did, policy: { capabilities: ['list_files'], maxTokensPerDay } });
    await policy(BUDGETS.tokensPerIntentDay.limit);
    await assert.rejects(policy(BUDGETS.tokensPerIntentDay.limit + 1), /maxTokensPerDay/);
    assertAlive(broker);
  });
});
