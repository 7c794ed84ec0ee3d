// The offline root's chain to the online broker id (core/authority), attacked byte by byte: every refusal
// names its reason. A peer pinning the root accepts exactly the ids the root currently certifies.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { certifyBroker, NOTHING_LEARNT, revokeBroker, verifyBrokerChain, type ChainResult, type LearntRevocations } from '../../../core/authority/broker-chain';
import { acceptBroker, isRootDid } from '../../../core/authority/broker-pin';
import { IdType, seal, SecretIdentity, type SealedEnvelope } from '../../../core/identity';
import { checkDelegation, NO_REVOCATIONS } from '../../../core/policy/delegation-gate';
import type { BrokerAuthority } from '../../../core/wire/authority';
import type { IntentBody } from '../../../core/wire/intent';

const NOW = Date.UTC(2026, 6, 1, 12, 0, 0);
const DAY = 24 * 60 * 60_000;
const root = SecretIdentity.generate(IdType.Organization);
const otherRoot = SecretIdentity.generate(IdType.Organization);
const broker = SecretIdentity.generate(IdType.Machine);
const successor = SecretIdentity.generate(IdType.Machine);

function authority(o: { by?: SecretIdentity; rootId?: SecretIdentity; for?: SecretIdentity; issuedAt?: number; expiresAt?: number; revocations?: SealedEnvelope[]; supersedes?: SecretIdentity; graceUntil?: number } = {}): BrokerAuthority {
  const signer = o.by ?? root;
  return {
    root: (o.rootId ?? signer).id.bytes,
    certificate: certifyBroker(signer, {
      serial: 1,
      broker: (o.for ?? broker).id,
      issuedAt: o.issuedAt ?? NOW - DAY,
      expiresAt: o.expiresAt ?? NOW + DAY,
      supersedes: o.supersedes ? { id: o.supersedes.id, delegationsValidUntil: o.graceUntil ?? NOW } : null,
    }),
    revocations: o.revocations ?? [],
  };
}

const verify = (a: BrokerAuthority, who = broker, learnt: LearntRevocations = NOTHING_LEARNT, pinnedRoot = root.did): ChainResult =>
  verifyBrokerChain(a, { pinnedRoot, broker: who.id, now: NOW, clockSkewMs: 30_000, learnt });

function refused(result: ChainResult, reason: string, message: RegExp): void {
  assert.equal(result.ok, false, 'expected a refusal');
  if (result.ok) return;
  assert.equal(result.reason, reason, result.message);
  assert.match(result.message, message);
}

describe('broker chain: root → online broker id', () => {
  test('a certificate from the pinned root for the very id that proved its key is accepted', () => {
    const result = verify(authority());
    assert.ok(result.ok, result.ok ? '' : result.message);
    assert.equal(result.value.root.did, root.did);
    assert.equal(result.value.certificate.serial, 1);
    assert.equal(result.value.former, null);
    assert.ok(isRootDid(root.did) && !isRootDid(broker.did), 'roots are organization ids, brokers machine ids');
  });

  test('a root certificate for another root is refused (wrong-root), even a perfectly valid one', () => {
    refused(verify(authority({ by: otherRoot })), 'wrong-root', new RegExp(`certified by root ${otherRoot.did}, but this peer trusts root ${root.did}`));
  });

  test("another root's certificate presented under the pinned root's id does not verify (bad-certificate)", () => {
    refused(verify(authority({ by: otherRoot, rootId: root })), 'bad-certificate', /signature does not verify/);
  });

  test('one flipped byte in the certificate is refused (bad-certificate)', () => {
    const a = authority();
    const payload = new Uint8Array(a.certificate.payload);
    payload[payload.length - 3]! ^= 0x01;
    refused(verify({ ...a, certificate: { ...a.certificate, payload } }), 'bad-certificate', /signature does not verify/);
  });

  test("the root's certificate of one broker presented by another (a stolen certificate) is refused (other-broker)", () => {
    refused(verify(authority(), successor), 'other-broker', /for another broker id/);
  });

  test('an expired certificate is refused (expired); one issued in the future is refused (not-yet-valid)', () => {
    refused(verify(authority({ expiresAt: NOW - 1 })), 'expired', /expired at/);
    refused(verify(authority({ issuedAt: NOW + 60 * 60_000 })), 'not-yet-valid', /not valid yet/);
  });

  test('a revocation presented with the chain refuses the id at once (revoked), with its reason', () => {
    const revocation = revokeBroker(root, { broker: broker.did, reason: 'key stolen', revokedAt: NOW });
    refused(verify(authority({ revocations: [revocation] })), 'revoked', new RegExp(`${broker.did} is revoked by root ${root.did}: key stolen`));
  });

  test('a revocation learnt earlier refuses the id even when this broker presents none (the attacker with the old key)', () => {
    refused(verify(authority(), broker, { ...NOTHING_LEARNT, revoked: new Map([[broker.did, 'key stolen']]) }), 'revoked', /key stolen/);
  });

  test('an id a rotation replaced is refused afterwards, though its own certificate is still valid (no downgrade)', () => {
    refused(verify(authority(), broker, { ...NOTHING_LEARNT, superseded: new Set([broker.did]) }), 'superseded', /replaced by a rotation/);
  });

  test('a revocation not signed by the root (forged by a broker) makes the whole chain refused (bad-revocation)', () => {
    const forged = revokeBroker(otherRoot, { broker: successor.did, reason: 'framed', revokedAt: NOW });
    refused(verify(authority({ revocations: [forged] })), 'bad-revocation', /does not verify with root/);
  });

  test('a successor certificate names the id it replaced and the end of its grace', () => {
    const result = verify(authority({ for: successor, supersedes: broker, graceUntil: NOW + 60_000 }), successor);
    assert.ok(result.ok);
    assert.equal(result.value.former?.id.did, broker.did);
    assert.equal(result.value.former?.until, NOW + 60_000);
  });
});

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

describe('delegation certificates across a rotation', () => {
  const user = SecretIdentity.generate(IdType.Person);
  const agent = `did:vaultys:${'0'.repeat(40)}`;
  const delegation = (by: SecretIdentity) =>
    seal(by, 'vaultysclaw/delegation/v1', { id: 'ab'.repeat(16), user: user.did, agent: '*', capabilities: ['read_file'], issuedAt: NOW - DAY, expiresAt: NOW + DAY });
  const intent = (by: SecretIdentity): IntentBody => ({
    id: 'cd'.repeat(16),
    agent,
    capability: 'read_file',
    params: { path: 'a' },
    user: user.did,
    delegation: delegation(by),
    revocationVersion: 0,
    issuedAt: NOW,
    expiresAt: NOW + 60_000,
  });
  const gate = (i: IntentBody, formerUntil: number | null) =>
    checkDelegation(i, { broker: successor.id, formerBroker: formerUntil === null ? null : { id: broker.id, until: formerUntil }, agent, now: NOW, clockSkewMs: 30_000, revocations: { ...NO_REVOCATIONS, version: 0 } });

  test('re-issued under the new id: accepted', () => {
    assert.deepEqual(gate(intent(successor), null), { ok: true });
  });

  test('signed by the replaced id: accepted during the grace the root set, refused after it (and at once with zero grace)', () => {
    assert.deepEqual(gate(intent(broker), NOW + 1), { ok: true });
    const after = gate(intent(broker), NOW);
    assert.equal(after.ok, false);
    assert.equal(after.ok ? '' : after.reason, 'delegation-invalid');
    assert.match(after.ok ? '' : after.message, /replaced broker id .* grace period is over/);
  });

  test('signed by an id the certificate does not name as replaced: refused as a bad signature', () => {
    const stranger = SecretIdentity.generate(IdType.Machine);
    const result = gate(intent(stranger), NOW + DAY);
    assert.equal(result.ok ? '' : result.reason, 'delegation-invalid');
    assert.match(result.ok ? '' : result.message, /signature does not verify/);
  });
});
