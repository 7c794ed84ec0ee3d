// verifyCertificate (core/identity/challenger/certificate.ts) on certificates from real handshakes: real keys, real
// signatures; each refusal asserted by its reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeChallenge,
  encodeChallenge,
  type HandshakeRejection,
  IdType,
  verifyCertificate,
} from '../../../../core/identity';
import {
  attempt,
  decoded,
  expectOk,
  flipped,
  identityFrom,
  PROTOCOL,
  refusalOf,
  resigned,
  runHonestHandshake,
  SERVICE,
  twinsOf,
} from '../support/handshake';

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

describe('self-handshake (spec §5.10 rule 4)', () => {
  test('a certificate whose pk1 and pk2 are the same id, signed twice with it, is refused as self-handshake', () => {
    const run = runHonestHandshake();
    const self = { ...decoded(run.complete), pk2: run.initiatorIdentity.id };
    const signedTwice = resigned(resigned(self, run.initiatorIdentity, 'sign2'), run.initiatorIdentity, 'sign1');
    assert.equal(refusalOf(() => verifyCertificate(encodeChallenge(signedTwice))), 'self-handshake');
  });

  for (const [how, twin] of twinsOf(identityFrom(1).id)) {
    test(`Self-handshake: a certificate whose pk2 is pk1's signing key under ${how}, signed twice with it, is refused as self-handshake`, () => {
      const run = runHonestHandshake();
      const self = { ...decoded(run.complete), pk2: twin };
      const signedTwice = resigned(resigned(self, run.initiatorIdentity, 'sign2'), run.initiatorIdentity, 'sign1');
      assert.equal(refusalOf(() => verifyCertificate(encodeChallenge(signedTwice))), 'self-handshake');
    });
  }
});

describe('messages out of place', () => {
  test('an INIT or a STEP1 given to verifyCertificate is refused as unexpected-message', () => {
    const run = runHonestHandshake();
    assert.equal(refusalOf(() => verifyCertificate(run.init)), 'unexpected-message');
    assert.equal(refusalOf(() => verifyCertificate(run.step1)), 'unexpected-message');
  });
});

describe('certificate properties', () => {
  const SIGNATURE_REASONS: readonly HandshakeRejection[] = ['bad-responder-signature', 'bad-initiator-signature'];

  test('any single-byte change to a certificate is refused; if the bytes still decode, a signature is what fails', () => {
    const certificates = [
      runHonestHandshake().complete,
      runHonestHandshake({ initiatorMetadata: { agent: 'a1', tags: ['x', 'y'] }, responderMetadata: { capabilities: ['fs.read'], limit: 300 } }).complete,
      runHonestHandshake({ initiatorIdentity: identityFrom(5, IdType.Organization), responderMetadata: new Uint8Array(40).fill(7) }).complete,
    ];
    fc.assert(
      fc.property(fc.nat(certificates.length - 1), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 255 }), (which, where, mask) => {
        const cert = certificates[which]!;
        const mutated = new Uint8Array(cert);
        const at = Math.floor(where * cert.length);
        mutated[at] = mutated[at]! ^ mask;
        const verdict = attempt(() => verifyCertificate(mutated));
        assert.equal(verdict.ok, false, `byte ${at} ^ ${mask} still verifies`);
        if (!verdict.ok && attempt(() => decodeChallenge(mutated)).ok) {
          assert.ok(SIGNATURE_REASONS.includes(verdict.reason), `decodable mutation refused as ${verdict.reason}`);
        }
      }),
      { numRuns: 200 },
    );
  });
});
