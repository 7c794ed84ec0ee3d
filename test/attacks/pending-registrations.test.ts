/**
 * Unlimited unauthenticated registrations (issue 13, finding 7): any key can register, so a stranger could grow
 * the registry and every admin's list without bound (23 622 pending in 90 s from one client). Pending
 * registrations are capped per address and in all, and expire, each removal audited. Real sockets on
 * 127.0.0.x, in-process brokers with their real database and audit.log.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PendingLimits } from '../../broker/agents/pending-registrations';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import { waitFor } from '../support/processes';
import { EdgeBroker } from './support/edge-broker';
import { HubSocket, RogueAgent } from './support/rogue-agent';

const withBroker = (limits: Partial<PendingLimits> | undefined, run: (edge: EdgeBroker) => Promise<void>) => EdgeBroker.audited(run, {}, limits);

/** A new key registers (handshake to the end) from `localAddress`; its socket is closed, its registration stays. */
async function register(edge: EdgeBroker, localAddress = '127.0.0.1'): Promise<RogueAgent> {
  const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), edge.url, edge.broker.identity.did);
  const { hub, status } = await rogue.authenticate(await HubSocket.connectFrom(edge.url, localAddress));
  assert.equal(status, 'pending');
  hub.close();
  return rogue;
}

/** A new key's registration is refused at the handshake: error frame peer-refused, registration-full. */
async function refusedRegistration(edge: EdgeBroker, localAddress = '127.0.0.1'): Promise<string> {
  const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), edge.url, edge.broker.identity.did);
  const hub = await HubSocket.connectFrom(edge.url, localAddress);
  hub.send({ type: 'auth/init', v: 1, challenge: rogue.newInitiator().init });
  const error = await hub.next('error');
  assert.equal(error.code, 'peer-refused');
  assert.match(error.message, /^registration-full: /);
  assert.deepEqual(await hub.waitClosed(), { code: 4001, reason: 'peer-refused' });
  assert.equal(await edge.broker.registry.get(rogue.did), undefined, 'nothing recorded for the refused key');
  return error.message;
}

describe('pending registrations are budgeted (finding 7)', () => {
  test(`Registration flood: BUDGETS.pendingRegistrationsPerAddress (default ${BUDGETS.pendingRegistrationsPerAddress.limit}) new keys register from one address; the next is refused registration-full; a known agent and another address still get in`, async () => {
    await withBroker(undefined, async (edge) => {
      const registered: RogueAgent[] = [];
      for (let i = 0; i < BUDGETS.pendingRegistrationsPerAddress.limit; i++) registered.push(await register(edge));
      assert.match(await refusedRegistration(edge), /from this address/);
      const known = await registered[0]!.authenticate();
      assert.equal(known.status, 'pending', 'an agent already registered reconnects');
      known.hub.close();
      await register(edge, '127.0.0.2');
      assert.equal(await edge.broker.registry.countPending(), BUDGETS.pendingRegistrationsPerAddress.limit + 1);
    });
  });

  test('Registration flood: BUDGETS.pendingRegistrations (5 here, 3 per address) from several addresses; the next is refused from any address; a decision frees a place', async () => {
    await withBroker({ total: 5, perAddress: 3 }, async (edge) => {
      const first = await register(edge, '127.0.0.2');
      await register(edge, '127.0.0.2');
      await register(edge, '127.0.0.3');
      await register(edge, '127.0.0.3');
      await register(edge, '127.0.0.4');
      assert.match(await refusedRegistration(edge, '127.0.0.5'), /5 registrations already await a decision/);
      await edge.broker.registrations.reject(edge.operator.did, first.did, 'not ours');
      await register(edge, '127.0.0.5');
    });
  });

  test('Registration flood: a pending registration lives BUDGETS.pendingRegistrationMs (600 ms here): kept within it, then removed and audited registration.expired, its connection closed, its place freed', async () => {
    const lines = await withBroker({ total: 1, lifetimeMs: 600 }, async (edge) => {
      const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), edge.url, edge.broker.identity.did);
      const { hub, status } = await rogue.authenticate();
      assert.equal(status, 'pending');
      const registeredAt = Date.now();
      await refusedRegistration(edge);
      assert.equal((await edge.broker.registry.get(rogue.did))?.status, 'pending', 'kept within its lifetime');
      assert.deepEqual(await hub.waitClosed(5000), { code: 4001, reason: 'registration expired' });
      assert.ok(Date.now() - registeredAt >= 500, 'removed at the end of its lifetime, not before');
      assert.equal(await edge.broker.registry.get(rogue.did), undefined);
      await register(edge);
      // It may come back: it registers again as a new pending agent.
      await waitFor('the place freed again', async () => await edge.broker.registry.countPending() === 0 || undefined, 5000);
      const again = await rogue.authenticate();
      assert.equal(again.status, 'pending');
      again.hub.close();
    });
    const expired = lines.filter((l) => l.event === 'registration.expired');
    assert.ok(expired.length >= 2, 'each removal audited');
    assert.ok(expired.every((l) => typeof l.did === 'string' && l.lifetimeMs === 600));
  });
});
