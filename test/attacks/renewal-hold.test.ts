/**
 * Right after a policy change (an approval, a new policy) the agent still holds its old certificate until it renews
 * (update_capabilities): an intent signed under the new policy that reached it then was refused by the agent
 * (revocation-list-stale, capability-not-granted), the race a user who approves then dispatches at once met. The
 * broker keeps such intents for the connection and sends them once the agent renews, within
 * BUDGETS.intentsHeldForRenewal (tested at the bound and the bound + 1): an agent that never renews cannot make the
 * broker hold more. A real broker, an in-process agent on a real hub socket (RogueAgent) that renews when the test says.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import { type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { RogueAgent, type Handshake, type HubSocket } from './support/rogue-agent';
import { call, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();
const LIMIT = BUDGETS.intentsHeldForRenewal.limit;

let broker: BrokerProcess;
let owner: Member;
let agent: RogueAgent;
let hub: HubSocket;
/** The agent's last handshake: the broker key its intents are opened with. */
let lastHandshake: Handshake;

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'slow-renewer', requested: ['read_file', 'list_files'], agentVersion: '0.5.0' });
  ({ hub, handshake: lastHandshake } = await bounded('agent handshake', agent.authenticate()));
});

after(async () => {
  hub?.close();
  await started.cleanup();
});

const read = (path: string) => call(owner, 'intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path } });

/** The intent frames the agent gets within `ms`, verified against the broker key of `handshake`. */
async function framesWithin(handshake: Handshake, ms: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(agent.openIntent((await hub.next('intent', () => true, ms)).envelope, handshake.certificate.responder).id);
  return ids;
}

describe('intents signed under a policy the agent has not renewed to yet', () => {
  test('approved, then a read at once: the broker holds it until the agent renews, then sends it under the new certificate', async () => {
    await call(owner, 'registrationsApprove', { did: agent.did, policy: { capabilities: ['read_file', 'list_files'], maxRequestsPerHour: 10_000 } });
    await hub.next('update_capabilities');
    const sent = await read('first.txt');
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    await assert.rejects(hub.next('intent', () => true, 700), /intent/, 'nothing reaches the agent under its pending certificate');

    const { handshake } = await bounded('renewal', agent.authenticate(hub));
    lastHandshake = handshake;
    assert.equal(handshake.policy.policyVersion, 1);
    assert.deepEqual(await framesWithin(handshake, 5_000, 1), [sent.id], 'sent once the agent holds policy v1');
  });

  test(`a policy change with the agent slow to renew: ${LIMIT} intents wait (the bound), the next is refused agent-busy (bound + 1), and all ${LIMIT} go out in order once it renews`, async () => {
    await call(owner, 'policySet', { did: agent.did, policy: { capabilities: ['read_file', 'list_files'], maxRequestsPerHour: 10_000 } });
    const change = await hub.next('update_capabilities');
    assert.equal(change.policyVersion, 2);
    const held: string[] = [];
    for (let i = 0; i < LIMIT; i++) {
      const sent = await read(`held-${i}.txt`);
      assert.equal(sent.state, 'sent', `intent ${i + 1}: ${sent.reason}: ${sent.message}`);
      held.push(sent.id);
    }
    const over = await read('one-too-many.txt');
    assert.deepEqual([over.state, over.reason, over.rejectedBy], ['rejected', 'agent-busy', 'broker']);
    assert.match(over.message ?? '', new RegExp(`has not taken its new policy v2 yet and ${LIMIT} intents already wait for it; retry in a moment`));
    await assert.rejects(hub.next('intent', () => true, 500), /intent/, 'none sent before the renewal');

    const { handshake } = await bounded('renewal', agent.authenticate(hub));
    lastHandshake = handshake;
    assert.equal(handshake.policy.policyVersion, 2);
    assert.deepEqual(await framesWithin(handshake, 10_000, LIMIT), held, 'every held intent, in the order it was signed');
    // Renewed: the next goes out at once.
    const after = await read('after.txt');
    assert.deepEqual(await framesWithin(handshake, 5_000, 1), [after.id]);
  });

  test(`an agent that does not renew (its update_capabilities lost, or a compromised agent): held for BUDGETS.renewalWaitMs (${BUDGETS.renewalWaitMs.limit} ms), then sent under the certificate it has, and nothing more is held for it until it renews`, async () => {
    const wait = BUDGETS.renewalWaitMs.limit;
    await call(owner, 'policySet', { did: agent.did, policy: { capabilities: ['read_file', 'list_files'], maxRequestsPerHour: 10_000 } });
    assert.equal((await hub.next('update_capabilities')).policyVersion, 3);
    const since = Date.now();
    const held = await read('held-long.txt');
    await assert.rejects(hub.next('intent', () => true, wait - 1_000), /intent/, 'held while the agent may still renew');
    assert.deepEqual(await framesWithin(lastHandshake, 5_000, 1), [held.id], 'sent under the certificate the agent has (v2), which decides');
    assert.ok(Date.now() - since >= wait - 50, `sent once the wait was over (${Date.now() - since} ms)`);
    // Overdue: the next intent goes out at once, not after another wait.
    const next = await read('not-held.txt');
    assert.deepEqual(await framesWithin(lastHandshake, 2_000, 1), [next.id]);
  });

  test(`dispatches at once cannot pass the bound together: of ${LIMIT} + 8 sent concurrently after a policy change, ${LIMIT} are held and 8 refused agent-busy`, async () => {
    // Renewed first: an overdue agent gets everything at once and nothing is held for it.
    ({ handshake: lastHandshake } = await bounded('renewal', agent.authenticate(hub)));
    await call(owner, 'policySet', { did: agent.did, policy: { capabilities: ['read_file', 'list_files'], maxRequestsPerHour: 10_000 } });
    assert.equal((await hub.next('update_capabilities')).policyVersion, 4);
    const all = await Promise.all(Array.from({ length: LIMIT + 8 }, (_, i) => read(`racing-${i}.txt`)));
    const held = all.filter((v) => v.state === 'sent').map((v) => v.id);
    const busy = all.filter((v) => v.state === 'rejected' && v.reason === 'agent-busy');
    assert.deepEqual([held.length, busy.length], [LIMIT, 8], 'held within the bound, the rest refused');
    await assert.rejects(hub.next('intent', () => true, 500), /intent/, 'none sent before the renewal');
    const { handshake } = await bounded('renewal', agent.authenticate(hub));
    lastHandshake = handshake;
    assert.deepEqual((await framesWithin(handshake, 10_000, LIMIT)).sort(), held.sort(), 'every held intent once the agent renews');
  });
});
