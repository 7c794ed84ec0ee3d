// Which broker a pin designates (core/authority/broker-pin): a root pin needs the root's chain, a broker-DID pin
// that exact id, and a valid chain from the pinned broker offers its root to migrate to.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NOTHING_LEARNT } from '../../../core/authority/broker-chain';
import { acceptBroker, isRootDid } from '../../../core/authority/broker-pin';
import { IdType, SecretIdentity } from '../../../core/identity';
import { authority, broker, NOW, otherRoot, root, successor } from './support/chain-fixtures';

describe('broker pin: root or broker DID', () => {
  const o = { now: NOW, clockSkewMs: 30_000, learnt: NOTHING_LEARNT, mismatch: (proved: string) => `proved ${proved}` };

  test('a root pin needs a chain: a broker presenting none is refused', () => {
    const result = acceptBroker(root.did, broker.id, undefined, o);
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.message, /presented no certificate from the pinned root/);
  });

  test('a root pin accepts any broker id the root certifies, and says why it refuses the others', () => {
    assert.ok(acceptBroker(root.did, successor.id, authority({ for: successor }), o).ok);
    const refusedOther = acceptBroker(root.did, broker.id, authority({ by: otherRoot }), o);
    assert.match(refusedOther.ok ? '' : refusedOther.message, /^wrong-root: /);
  });

  test('a broker-DID pin (enrolled before roots) keeps working, and a valid chain from that broker offers the root to migrate to', () => {
    const legacy = acceptBroker(broker.did, broker.id, undefined, o);
    assert.deepEqual(legacy, { ok: true, chain: null, migrateTo: null });
    const offered = acceptBroker(broker.did, broker.id, authority(), o);
    assert.ok(offered.ok);
    assert.equal(offered.migrateTo, root.did);
  });

  test('a broker-DID pin never migrates on a chain that does not hold, and never accepts another broker id', () => {
    const expired = acceptBroker(broker.did, broker.id, authority({ expiresAt: NOW - 1 }), o);
    assert.deepEqual(expired, { ok: true, chain: null, migrateTo: null });
    const stolen = acceptBroker(broker.did, successor.id, authority({ for: successor }), o);
    assert.deepEqual(stolen, { ok: false, message: `proved ${successor.did}` });
  });
});

test('isRootDid: an organization DID is a root; a machine (broker) or person DID is not', () => {
  assert.equal(isRootDid(root.did), true);
  assert.equal(isRootDid(broker.did), false);
  assert.equal(isRootDid(SecretIdentity.generate(IdType.Person).did), false);
});
