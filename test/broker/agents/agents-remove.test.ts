// agents/remove (issue 17): an admin takes a revoked or rejected agent out of the lists. Approved and pending agents are
// refused (they can still run or be approved); the removal is audited and the audit log keeps the agent's story; the key
// stays refused when it reconnects (the row stays), so a removed agent never comes back as a fresh registration.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IdType, SecretIdentity } from '../../../core/identity';
import { RpcErrorCode } from '../../../core/rpc/methods';
import { RogueAgent } from '../../attacks/support/rogue-agent';
import { auditLines, call, expectRpcError, ownerOf, registerAgent, type Member } from '../../attacks/support/team';
import { waitFor, type BrokerProcess } from '../../support/processes';
import { exitIfHeldOpen, Started } from '../../support/started';

exitIfHeldOpen();
const started = new Started();
let broker: BrokerProcess;
let owner: Member;

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
});
after(() => started.cleanup());

const listed = async (did: string) => (await call(owner, 'agentsList', {})).items.some((a) => a.did === did);

describe('agents/remove', () => {
  test('a pending agent is refused with a sentence that says to reject or revoke it first, and stays listed', async () => {
    const did = await registerAgent(broker);
    await expectRpcError(call(owner, 'agentsRemove', { did }), RpcErrorCode.Conflict, /is pending: only a revoked or rejected agent can be removed \(revoke or reject it first\)/);
    assert.equal(await listed(did), true);
  });

  test('an approved agent is refused, and stays listed', async () => {
    const did = await registerAgent(broker);
    await call(owner, 'registrationsApprove', { did, policy: { capabilities: ['read_file'] } });
    await expectRpcError(call(owner, 'agentsRemove', { did }), RpcErrorCode.Conflict, /is approved: only a revoked or rejected agent can be removed \(revoke it first\)/);
    assert.equal(await listed(did), true);
  });

  test('a revoked agent is removed: gone from the list, audited, its story kept in the audit log, its key still refused', async () => {
    const identity = SecretIdentity.generate(IdType.Machine);
    const rogue = new RogueAgent(identity, broker.url, broker.did, { name: 'to-remove', requested: ['read_file'], agentVersion: '0.0.0-target' });
    (await rogue.authenticate()).hub.close();
    const did = rogue.did;
    await call(owner, 'registrationsApprove', { did, policy: { capabilities: ['read_file'] } });
    await call(owner, 'agentsRevoke', { did, reason: 'decommissioned' });
    assert.equal(await listed(did), true, 'a revoked agent is listed until removed');

    const view = await call(owner, 'agentsRemove', { did });
    assert.equal(view.removed, true);
    assert.equal(view.status, 'revoked');
    assert.equal(await listed(did), false, 'gone from agents/list');
    await expectRpcError(call(owner, 'agentsRemove', { did }), RpcErrorCode.Conflict, /already removed/);

    const lines = await waitFor('agent.removed in the audit log', () => {
      const all = auditLines(broker.dataDir);
      return all.some((l) => l.event === 'agent.removed' && l.did === did) ? all : undefined;
    });
    const removed = lines.find((l) => l.event === 'agent.removed' && l.did === did)!;
    assert.equal(removed.actor, owner.did);
    assert.equal(removed.status, 'revoked');
    assert.equal(removed.name, 'to-remove');
    for (const event of ['registration.pending', 'registration.approved', 'agent.revoked']) {
      assert.ok(lines.some((l) => l.event === event && l.did === did), `the audit log keeps ${event}`);
    }

    // The same key again: still revoked (not a new pending registration), still not listed.
    const again = new RogueAgent(identity, broker.url, broker.did, { name: 'to-remove', requested: ['read_file'], agentVersion: '0.0.0-target' });
    await assert.rejects(again.authenticate());
    await broker.log.waitFor('auth.refused', (l) => l.did === did && l.reason === 'revoked');
    assert.equal((await call(owner, 'registrationsList', {})).items.some((a) => a.did === did), false, 'not re-queued as pending');
    assert.equal(await listed(did), false);
  });

  test('a rejected agent is removed', async () => {
    const did = await registerAgent(broker);
    await call(owner, 'registrationsReject', { did, reason: 'unknown machine' });
    const view = await call(owner, 'agentsRemove', { did });
    assert.equal(view.removed, true);
    assert.equal(view.status, 'rejected');
    assert.equal(await listed(did), false);
  });

  test('an unknown agent is NotFound', async () => {
    const did = SecretIdentity.generate(IdType.Machine).did;
    await expectRpcError(call(owner, 'agentsRemove', { did }), RpcErrorCode.NotFound, /agent/);
  });
});
