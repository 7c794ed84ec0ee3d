// The offline root's chain to the online broker id (core/authority), attacked byte by byte: every refusal
// names its reason. A peer pinning the root accepts exactly the ids the root currently certifies.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NOTHING_LEARNT, revokeBroker, verifyBrokerChain, type ChainResult, type LearntRevocations } from '../../../core/authority/broker-chain';
import { isRootDid } from '../../../core/authority/broker-pin';
import type { BrokerAuthority } from '../../../core/wire/authority';
import { authority, broker, NOW, otherRoot, root, successor } from './support/chain-fixtures';

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
