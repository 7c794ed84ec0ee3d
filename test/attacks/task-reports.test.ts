/**
 * A compromised agent holding an llm_task intent, against a real broker: it cannot have a reviewer
 * approve a call outside the task's tools, its token reports can raise the broker's view of its own usage
 * but a replayed or lower report cannot lower it, and another agent cannot report usage on its intents.
 * What the agent signed is what the broker's pre-check refuses on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { IdType, seal, SecretIdentity } from '../../core/identity';
import { utcDay } from '../../core/policy/utc-day';
import type { ApprovalRequestBody } from '../../core/wire/approval';
import type { IntentBody, ProgressBody } from '../../core/wire/intent';
import type { BrokerProcess } from '../support/processes';
import { waitFor } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { RogueAgent, type Handshake, type HubSocket } from './support/rogue-agent';
import { assertBrokerRefused, call, ownerOf, runAs, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();
const sockets: HubSocket[] = [];

let broker: BrokerProcess;
let owner: Member;

interface Connected {
  rogue: RogueAgent;
  hub: HubSocket;
  handshake: Handshake;
}

/** A rogue agent approved for llm_task and read_file with a 100-token day, connected with its v1 certificate. */
async function approvedRogue(name: string): Promise<Connected> {
  const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name, requested: ['llm_task', 'read_file'], agentVersion: '0.0.0-rogue' });
  const first = await bounded('rogue handshake', rogue.authenticate());
  first.hub.close();
  await call(owner, 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['llm_task', 'read_file'], maxTokensPerDay: 100 } });
  const { hub, handshake } = await bounded('approved handshake', rogue.authenticate());
  sockets.push(hub);
  assert.equal(handshake.policy.status, 'approved');
  return { rogue, hub, handshake };
}

/** The owner dispatches a task to `c`; returns the intent as the rogue verified it. */
async function taskFor(c: Connected, params: Record<string, unknown>): Promise<IntentBody> {
  const sent = await call(owner, 'intentsDispatch', { agent: c.rogue.did, capability: 'llm_task', params });
  assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
  const frame = await c.hub.next('intent');
  return c.rogue.openIntent(frame.envelope, c.handshake.certificate.responder);
}

const tokensToday = async (did: string) => (await call(owner, 'agentsGet', { did })).usage.tokensToday;

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
});

after(async () => {
  for (const s of sockets) s.close();
  await started.cleanup();
});

describe('a compromised agent running a task', () => {
  test("Compromised agent: an approval request for a tool outside the task's tools, or with arguments that tool refuses, is refused as approval-mismatch", async () => {
    const c = await approvedRogue('asks-too-much');
    const intent = await taskFor(c, { instruction: 'Read the notes', tools: ['read_file'] });
    const now = Date.now();
    const request = (capability: ApprovalRequestBody['capability'], params: Record<string, unknown>): ApprovalRequestBody => ({
      requestId: randomBytes(16).toString('hex'),
      intentId: intent.id,
      agent: c.rogue.did,
      user: intent.user,
      capability,
      params,
      cwd: '/srv',
      requestedAt: now,
      expiresAt: now + 60_000,
    });
    const attempts = [
      request('run_command', { command: 'rm', args: ['-rf', '.'], cwd: '.', timeoutMs: 1000 }),
      request('write_file', { path: 'x', content: 'y', mode: 'overwrite' }),
      request('read_file', { path: 'notes.txt', follow: 'symlinks' }),
    ];
    for (const body of attempts) {
      c.hub.send({ type: 'approval/request', envelope: seal(c.rogue.identity, 'vaultysclaw/approval-request/v1', body) });
      const refused = await c.hub.next('error');
      assert.equal(refused.code, 'approval-mismatch', `${body.capability}: ${refused.message}`);
    }
    // Control: a call the task may make reaches the reviewers.
    const fair = request('read_file', { path: 'notes.txt' });
    c.hub.send({ type: 'approval/request', envelope: seal(c.rogue.identity, 'vaultysclaw/approval-request/v1', fair) });
    const pending = await waitFor('the fair request to be pending', async () =>
      (await call(owner, 'approvalsList', { state: 'pending' })).items.find((a) => a.requestId === fair.requestId),
    );
    assert.deepEqual(pending.params, { path: 'notes.txt' });
    const stored = (await call(owner, 'approvalsList', {})).items.filter((a) => a.intentId === intent.id).map((a) => a.requestId);
    assert.deepEqual(stored, [fair.requestId], 'none of the refused requests was stored');
  });

  test('Runaway token spend: replayed or lower usage reports never lower the broker\'s count, another agent cannot report on this one\'s intent, and the signed total refuses the next task', async () => {
    const a = await approvedRogue('reports');
    const b = await approvedRogue('meddler');
    const intent = await taskFor(a, { instruction: 'Spend tokens' });
    const day = utcDay(Date.now());
    let seq = 0;
    const progress = (c: Connected, tokens: number) => {
      const body: ProgressBody = { intentId: intent.id, agent: c.rogue.did, seq: seq++, stream: 'status', text: 'step', at: Date.now(), usage: { day, tokens } };
      return seal(c.rogue.identity, 'vaultysclaw/progress/v1', body);
    };

    const fifty = progress(a, 50);
    a.hub.send({ type: 'progress', envelope: fifty });
    await waitFor('the report of 50 tokens', async () => (await tokensToday(a.rogue.did)) === 50);
    a.hub.send({ type: 'progress', envelope: fifty }); // replayed
    a.hub.send({ type: 'progress', envelope: progress(a, 10) }); // a lower running total
    b.hub.send({ type: 'progress', envelope: progress(b, 90) }); // on an intent B never received
    // A marker report on B's own side shows the frames above were all processed.
    const own = await taskFor(b, { instruction: 'marker' });
    b.hub.send({ type: 'progress', envelope: seal(b.rogue.identity, 'vaultysclaw/progress/v1', { intentId: own.id, agent: b.rogue.did, seq: 0, stream: 'status', text: 'x', at: Date.now(), usage: { day, tokens: 1 } }) });
    await waitFor('the marker report', async () => (await tokensToday(b.rogue.did)) === 1);
    assert.equal(await tokensToday(a.rogue.did), 50, 'neither the replay, the lower total nor B changed A\'s count');

    // The final signed result carries the task's total; the broker then refuses tasks the agent cannot afford.
    a.hub.send({ type: 'result', envelope: a.rogue.result({ intentId: intent.id, outcome: 'succeeded', reason: null, message: 'done', output: { text: 'ok' }, usage: [{ day, tokens: 100 }] }) });
    await a.hub.next('result/ack', (f) => f.intentId === intent.id);
    assert.equal(await tokensToday(a.rogue.did), 100);
    const refused = await runAs(owner, a.rogue.did, 'llm_task', { instruction: 'More' });
    assertBrokerRefused(refused, 'token-budget-exhausted', /daily token budget of 100 is used up/);
    const read = await runAs(owner, a.rogue.did, 'read_file', { path: 'x' });
    assertBrokerRefused(read, 'token-budget-exhausted');
  });
});
