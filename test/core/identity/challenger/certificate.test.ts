// verifyCertificate (core/identity/challenger/certificate.ts) on certificates from real handshakes: real keys, real
// signatures; each refusal asserted by its reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeChallenge, verifyCertificate, type HandshakeRejection } from '../../../../core/identity';
import { PROTOCOL, SERVICE, decoded, expectOk, flipped, refusalOf, runHonestHandshake } from '../support/handshake';

describe('certificate tampering', () => {
  test('flipping any single byte of a certificate never verifies, and the refusals name several distinct reasons', () => {
    const run = runHonestHandshake({ initiatorMetadata: { agent: 'a1' }, responderMetadata: { capabilities: ['fs.read'] } });
    const cert = run.complete;
    const m = decoded(cert);
    const sign1At = Buffer.from(cert).indexOf(Buffer.from(m.sign1!));
    const sign2At = Buffer.from(cert).indexOf(Buffer.from(m.sign2!));
    assert.ok(sign1At > 0 && sign2At > 0);
    const reasons = new Set<HandshakeRejection>();
    for (let i = 0; i < cert.length; i++) {
      const reason = refusalOf(() => verifyCertificate(flipped(cert, i)));
      reasons.add(reason);
      if (i >= sign1At && i < sign1At + 64) assert.equal(reason, 'bad-initiator-signature', `byte ${i} (in sign1)`);
      if (i >= sign2At && i < sign2At + 64) assert.equal(reason, 'bad-responder-signature', `byte ${i} (in sign2)`);
    }
    for (const expected of [
      'malformed',
      'non-canonical',
      'unsupported-version',
      'bad-id',
      'unsupported-id',
      'bad-responder-signature',
      'bad-initiator-signature',
    ] as const) {
      assert.ok(reasons.has(expected), `no flipped byte was refused as ${expected}: ${[...reasons].join(', ')}`);
    }
  });

  test('the untampered certificate verifies (the control for the loop above)', () => {
    const run = runHonestHandshake();
    expectOk(verifyCertificate(run.complete));
    assert.deepEqual(decodeChallenge(run.complete).ok, true);
  });
});

describe('certificate scope', () => {
  test('a certificate made for another protocol or service is refused as wrong-protocol when the verifier names its own', () => {
    const { complete } = runHonestHandshake();
    expectOk(verifyCertificate(complete, { protocol: PROTOCOL, service: SERVICE }));
    assert.equal(refusalOf(() => verifyCertificate(complete, { protocol: 'vaultys.wot' })), 'wrong-protocol');
    assert.equal(refusalOf(() => verifyCertificate(complete, { protocol: PROTOCOL, service: 'admin' })), 'wrong-protocol');
  });

  test('a custom size bound applies to a certificate: one byte under its length is oversized', () => {
    const { complete } = runHonestHandshake();
    expectOk(verifyCertificate(complete, { maxMessageBytes: complete.length }));
    assert.equal(refusalOf(() => verifyCertificate(complete, { maxMessageBytes: complete.length - 1 })), 'oversized');
  });
});
