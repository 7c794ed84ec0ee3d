import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NOTHING_LEARNT, revokeBroker, verifyBrokerChain, type VerifiedChain } from '../../../core/authority/broker-chain';
import { TrustMemory } from '../../../core/authority/trust-memory';
import type { BrokerAuthority } from '../../../core/wire/authority';
import { authority, broker, NOW, root, successor } from './support/chain-fixtures';

const verified = (a: BrokerAuthority, who = broker, memory = new TrustMemory()): VerifiedChain => {
  const result = verifyBrokerChain(a, { pinnedRoot: root.did, broker: who.id, now: NOW, clockSkewMs: 30_000, learnt: memory.learnt });
  if (!result.ok) throw new Error(`${result.reason}: ${result.message}`);
  return result.value;
};

test('a new memory knows nothing, and a connection with no chain (a broker-DID pin) teaches it nothing', () => {
  const memory = new TrustMemory();
  assert.equal(memory.learnt, NOTHING_LEARNT);
  memory.learn(null);
  assert.equal(memory.learnt, NOTHING_LEARNT);
});

test('what one connection teaches refuses the replaced broker on the next connection of the session', () => {
  const memory = new TrustMemory();
  memory.learn(verified(authority({ for: successor, supersedes: broker }), successor));
  assert.deepEqual([...memory.learnt.superseded], [broker.did]);
  const next = verifyBrokerChain(authority(), { pinnedRoot: root.did, broker: broker.id, now: NOW, clockSkewMs: 30_000, learnt: memory.learnt });
  assert.equal(next.ok ? 'accepted' : next.reason, 'superseded');
});

test('a revocation once learnt is kept when later chains present none', () => {
  const memory = new TrustMemory();
  const revocation = revokeBroker(root, { broker: broker.did, reason: 'key stolen', revokedAt: NOW });
  memory.learn(verified(authority({ for: successor, revocations: [revocation] }), successor));
  memory.learn(verified(authority({ for: successor }), successor, memory));
  assert.equal(memory.learnt.revoked.get(broker.did), 'key stolen');
});

test('a chain that adds nothing leaves what was learnt as it was', () => {
  const memory = new TrustMemory();
  const chain = verified(authority());
  memory.learn(chain);
  const learnt = memory.learnt;
  memory.learn(chain);
  assert.equal(memory.learnt, learnt);
});
