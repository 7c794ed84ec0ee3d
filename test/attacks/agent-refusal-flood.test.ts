/**
 * A compromised but approved agent sends validly signed frames the broker refuses while it keeps the connection
 * open (results and progress for intents it never received, approval requests for them, token reports past its
 * budget). Each is attributable and answered with an error, but a line each in the hash-chained audit log, at the
 * hub's frame rate, would fill the broker's disk (the log fails closed: the broker stops for everyone).
 * BUDGETS.agentRefusalAuditLines, at the bound and the bound + 1, and a flood, on a real broker and hub socket.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUDGETS } from '../../core/budgets';
import { IdType, seal, SecretIdentity } from '../../core/identity';
import type { ProgressBody } from '../../core/wire/intent';
import { waitFor, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { RogueAgent, type HubSocket } from './support/rogue-agent';
import { auditLines, call, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();
const LIMIT = BUDGETS.agentRefusalAuditLines.limit;

let broker: BrokerProcess;
let owner: Member;
let rogue: RogueAgent;
const sockets: HubSocket[] = [];

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'refused-flooder', requested: ['list_files'], agentVersion: '0.5.0' });
  const first = await bounded('rogue handshake', rogue.authenticate());
  first.hub.close();
  await call(owner, 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['list_files'] } });
});

after(async () => {
  for (const hub of sockets) hub.close();
  await started.cleanup();
});

async function connect(): Promise<HubSocket> {
  const { hub, status } = await bounded('approved handshake', rogue.authenticate());
  assert.equal(status, 'approved');
  sockets.push(hub);
  return hub;
}

/** A validly signed frame about an intent this agent never received: a result, or a progress carrying a token report. */
function refusedFrame(i: number): Record<string, unknown> {
  const intentId = randomBytes(16).toString('hex');
  if (i % 2 === 0) return { type: 'result', envelope: rogue.result({ intentId, outcome: 'succeeded', reason: null, message: 'done', output: { entries: [] } }) };
  const body: ProgressBody = { intentId, agent: rogue.did, seq: i, stream: 'status', text: 'step', at: Date.now() };
  return { type: 'progress', envelope: seal(rogue.identity, 'vaultysclaw/progress/v1', body) };
}

/** Sends `count` refused frames under the hub's frame rate, and waits until the broker has answered every one. */
async function sendRefused(hub: HubSocket, count: number): Promise<void> {
  const perBurst = Math.floor(BUDGETS.hubFramesPerSecond.limit / 4);
  for (let i = 0; i < count; i += perBurst) {
    for (let j = i; j < Math.min(count, i + perBurst); j++) hub.send(refusedFrame(j));
    if (i + perBurst < count) await sleep(500);
  }
  await waitFor(`${count} refusals answered`, () => hub.frames.filter((f) => f.type === 'error' && f.code === 'unknown-intent').length >= count || undefined, 30_000);
  assert.equal(hub.closed, undefined, 'a refused frame leaves the connection open');
}

const full = (since: number) => auditLines(broker.dataDir).slice(since).filter((l) => (l.event === 'result.refused' || l.event === 'progress.refused') && l.did === rogue.did);
const summaries = (since: number) => auditLines(broker.dataDir).slice(since).filter((l) => l.event === 'agent.refused-summary' && l.did === rogue.did);

describe("an approved agent's refused frames are audited within a budget", () => {
  test(`at the bound: ${LIMIT} refusals in one interval are each written in full, and no summary is needed`, async () => {
    const mark = auditLines(broker.dataDir).length;
    const hub = await connect();
    await sendRefused(hub, LIMIT);
    await waitFor('the refusals in the audit log', () => full(mark).length === LIMIT || undefined);
    hub.close();
    await waitFor('the agent offline', () => auditLines(broker.dataDir).slice(mark).some((l) => l.event === 'agent.offline' && l.did === rogue.did) || undefined);
    assert.equal(full(mark).length, LIMIT);
    assert.deepEqual(summaries(mark), [], 'nothing was counted, so nothing is summarised');
  });

  test(`bound + 1: one refusal past the ${LIMIT} of the interval is counted into one agent.refused-summary line, written when the connection closes`, async () => {
    const mark = auditLines(broker.dataDir).length;
    const hub = await connect();
    await sendRefused(hub, LIMIT + 1);
    assert.equal(full(mark).length, LIMIT, 'the last one is not written in full');
    hub.close();
    const [summary] = await waitFor('the summary', () => (summaries(mark).length > 0 ? summaries(mark) : undefined));
    assert.equal(summary!.suppressed, 1);
    assert.equal(summary!.intervalMs, BUDGETS.refusalSummaryMs.limit);
    assert.equal(Object.values(summary!.reasons as Record<string, number>).reduce((a, b) => a + b, 0), 1);
  });

  test('a flood of 600 refused frames writes at most the budget per interval in full, and every one is accounted for', async () => {
    const sent = 600;
    const mark = auditLines(broker.dataDir).length;
    const startedAt = Date.now();
    const hub = await connect();
    await sendRefused(hub, sent);
    const elapsed = Date.now() - startedAt;
    // The summary of a window comes at its end, while the connection is open: no need to disconnect to see it.
    await waitFor('a summary within the interval', () => summaries(mark).length > 0 || undefined, BUDGETS.refusalSummaryMs.limit + 10_000);
    hub.close();
    await waitFor('the agent offline', () => auditLines(broker.dataDir).slice(mark).some((l) => l.event === 'agent.offline' && l.did === rogue.did) || undefined);
    const written = full(mark).length;
    const suppressed = summaries(mark).reduce((n, l) => n + Number(l.suppressed), 0);
    const windows = Math.ceil((elapsed + BUDGETS.refusalSummaryMs.limit) / BUDGETS.refusalSummaryMs.limit);
    assert.ok(written <= LIMIT * windows, `${written} full lines over ${windows} interval(s)`);
    assert.equal(written + suppressed, sent, 'each refusal is either a line or counted in a summary');
    assert.deepEqual(Object.keys(summaries(mark)[0]!.reasons as object).sort(), ['progress.refused:unknown-intent', 'result.refused:unknown-intent']);
    // Still serving: the agent's own next connection is admitted.
    const again = await connect();
    again.close();
  });
});
