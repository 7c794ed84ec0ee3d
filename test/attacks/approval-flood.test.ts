/**
 * A compromised agent floods the broker with approval requests for one intent in flight (each would be a database
 * row and an `approval.requested` audit line for as long as its task runs): BUDGETS.pendingApprovalRequestsPerIntent
 * and BUDGETS.approvalRequestsPerIntent, each tested at the bound and the bound + 1, on a real broker and a real
 * hub socket (RogueAgent) whose requests are all validly signed and describe the intent's own call.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import { DEFAULT_CLOCK_SKEW_MS } from '../../core/policy/intent-gates';
import type { IntentBody } from '../../core/wire/intent';
import { waitFor, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { RogueAgent, type Handshake, type HubSocket } from './support/rogue-agent';
import { auditLines, call, decisionParams, joinAs, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();

let broker: BrokerProcess;
let owner: Member;
let alice: Member;
let bob: Member;
let agent: RogueAgent;
let hub: HubSocket;
let handshake: Handshake;

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  alice = await joinAs(broker, owner, 'operator', 'alice');
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
  await call(owner, 'grantsCreate', { user: alice.did, agent: '*', capabilities: ['write_file'], validForMs: 60 * 60_000 });
  agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'flooder', requested: ['write_file'], agentVersion: '0.4.0' });
  ({ hub } = await bounded('agent handshake', agent.authenticate()));
  await call(owner, 'registrationsApprove', { did: agent.did, policy: { capabilities: ['write_file'], approvalRequired: ['write_file'] } });
  await hub.next('update_capabilities');
  ({ handshake } = await bounded('agent renewal', agent.authenticate(hub)));
});

after(async () => {
  hub?.close();
  for (const m of [alice, bob]) m?.client.close();
  await started.cleanup();
});

let seq = 0;

/** Alice writes a file; the agent receives the intent and keeps it in flight (it never answers). */
async function inFlight(): Promise<IntentBody> {
  const sent = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: `flood-${++seq}.txt`, content: 'x', mode: 'create' } });
  assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
  return agent.openIntent((await hub.next('intent', (f) => agent.openIntent(f.envelope, handshake.certificate.responder).id === sent.id)).envelope, handshake.certificate.responder);
}

/** A validly signed request about the intent's own call, expiring `lifetimeMs` after it is made (sent on the hub). */
function ask(intent: IntentBody, lifetimeMs: number): { requestId: string } {
  const request = agent.approvalRequest(intent, { ...handshake.policy, approvalTimeoutMs: lifetimeMs });
  hub.send({ type: 'approval/request', envelope: request.envelope });
  return request;
}

const stored = (requestId: string) =>
  waitFor(`request ${requestId} to be stored`, async () => {
    try {
      return await call(owner, 'approvalsGet', { requestId });
    } catch {
      return undefined;
    }
  });

const requestsOf = (intentId: string) => auditLines(broker.dataDir).filter((l) => l.event === 'approval.requested' && l.intentId === intentId);
const refusals = (code: string) => auditLines(broker.dataDir).filter((l) => l.event === 'approval.refused' && l.code === code && l.did === agent.did);

describe('approval requests per intent are budgeted', () => {
  test(`pending at once: the ${BUDGETS.pendingApprovalRequestsPerIntent.limit}st is stored, the next is refused 'approval-pending' and audited, and once it is decided the next is stored`, async () => {
    assert.equal(BUDGETS.pendingApprovalRequestsPerIntent.limit, 1, 'an honest agent awaits one decision at a time');
    const intent = await inFlight();
    const first = ask(intent, handshake.policy.approvalTimeoutMs);
    const pending = await stored(first.requestId);
    assert.equal(pending.state, 'pending');

    const refusedBefore = refusals('approval-pending').length;
    ask(intent, handshake.policy.approvalTimeoutMs);
    const error = await hub.next('error', (f) => f.code === 'approval-pending');
    assert.match(error.message, /already has an approval request waiting for a reviewer/);
    await waitFor('the refusal in the audit log', () => refusals('approval-pending').length === refusedBefore + 1);
    assert.deepEqual(
      (await call(owner, 'approvalsList', { state: 'pending' })).items.filter((a) => a.intentId === intent.id).map((a) => a.requestId),
      [first.requestId],
      'the refused request is not stored',
    );
    assert.equal(requestsOf(intent.id).length, 1, 'and not audited as a request');

    // The decision ends the pending one: the agent may ask about its next call.
    assert.equal((await call(bob, 'approvalsDecide', decisionParams(bob.identity, pending, 'approve'))).state, 'approved');
    await hub.next('approval/decision');
    const third = ask(intent, handshake.policy.approvalTimeoutMs);
    assert.equal((await stored(third.requestId)).state, 'pending');
  });

  test("a request whose time is up by the agent's clock (within the allowed skew) no longer counts: it ends, audited, and the next one is stored", async () => {
    const intent = await inFlight();
    // An agent whose clock runs ahead: by its clock this request has expired, by ours it has a little while left.
    const early = ask(intent, DEFAULT_CLOCK_SKEW_MS / 3);
    await stored(early.requestId);
    const next = ask(intent, DEFAULT_CLOCK_SKEW_MS + 60_000);
    assert.equal((await stored(next.requestId)).state, 'pending');
    const ended = await call(owner, 'approvalsGet', { requestId: early.requestId });
    assert.equal(ended.state, 'expired');
    assert.ok(auditLines(broker.dataDir).some((l) => l.event === 'approval.cancelled' && l.requestId === early.requestId), 'the early end is audited');
  });

  test(`in a lifetime: ${BUDGETS.approvalRequestsPerIntent.limit} requests of one intent are stored, the next is refused 'approval-limit' and audited`, async () => {
    const intent = await inFlight();
    const limit = BUDGETS.approvalRequestsPerIntent.limit;
    // Each request ends by the agent's clock before the next: always one pending, so only the lifetime bound applies.
    // Paced under the hub's frame rate (BUDGETS.hubFramesPerSecond), which would otherwise close the socket first.
    const pace = Math.ceil(2_000 / BUDGETS.hubFramesPerSecond.limit);
    for (let i = 0; i < limit; i++) {
      const sent = Date.now();
      await stored(ask(intent, 1).requestId);
      await sleep(Math.max(0, pace - (Date.now() - sent)));
    }
    assert.equal(requestsOf(intent.id).length, limit);

    const over = ask(intent, 1);
    const error = await hub.next('error', (f) => f.code === 'approval-limit');
    assert.match(error.message, new RegExp(`already made ${limit} approval requests`));
    await waitFor('the refusal in the audit log', () => refusals('approval-limit').length === 1);
    await assert.rejects(call(owner, 'approvalsGet', { requestId: over.requestId }), /not found|approval request/);
    assert.equal(requestsOf(intent.id).length, limit, 'nothing more is stored or audited as a request');

    // The bound is per intent: another intent of the same agent still gets its reviewer.
    const other = await inFlight();
    assert.equal((await stored(ask(other, handshake.policy.approvalTimeoutMs).requestId)).state, 'pending');
  });
});
