import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encode } from '@msgpack/msgpack';
import {
  IdType,
  SecretIdentity,
  decodeChallenge,
  encodeChallenge,
  verifyCertificate,
  type HandshakeRejection,
  type VaultysId,
} from '../../../core/identity';
import { ManualClock, attempt, decoded, expectOk, identityFrom, runHonestHandshake, startInitiator, startResponder } from './support/handshake';

const INTEGER_LIKE = /^(0|[1-9][0-9]*)$/;

const randomIdentity: fc.Arbitrary<SecretIdentity> = fc
  .record({
    type: fc.constantFrom(IdType.Machine, IdType.Person, IdType.Organization),
    entropy: fc.uint8Array({ minLength: 0, maxLength: 64 }),
  })
  .map(({ type, entropy }) => SecretIdentity.fromEntropy(type, entropy));

/** Keys spec §5.8 allows: any well-formed string that JS does not reorder and the decoder does not refuse. */
const mapKey = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((k) => !INTEGER_LIKE.test(k) && k !== '__proto__');

/** Strings short and long, so both of @msgpack/msgpack's UTF-8 code paths (JS loop and TextEncoder) are used. */
const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'grapheme', minLength: 51, maxLength: 120 }));

const leaf = fc.oneof(
  text,
  fc.maxSafeInteger(),
  fc.constantFrom(0, -1, -32, -33, 127, 128, 255, 256, 65535, 65536, 2 ** 32, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 300 }),
);

/** Metadata values that spec §5.8 says can be signed: no floats, undefined, Dates, ext types or integer-like keys. */
const signable: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(mapKey, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

const SIGNATURE_REASONS: readonly HandshakeRejection[] = ['bad-responder-signature', 'bad-initiator-signature'];

describe('Challenger properties', () => {
  test('random ids and random signable metadata: the handshake completes and every side reads back exactly the metadata that was set', () => {
    fc.assert(
      fc.property(
        randomIdentity,
        randomIdentity,
        fc.option(signable, { nil: undefined }),
        fc.option(signable, { nil: undefined }),
        (initiatorIdentity, responderIdentity, initiatorMetadata, responderMetadata) => {
          // One key on both sides is a self-handshake, whatever the type bytes (challenger-attacks tests that refusal).
          fc.pre(!initiatorIdentity.id.sharesSigningKey(responderIdentity.id));
          const clock = new ManualClock();
          let seenByResponder: unknown = 'admit() never ran';
          let seenByInitiator: unknown = 'acceptResponder() never ran';
          let seenResponder: VaultysId | undefined;
          const initiator = startInitiator({
            clock,
            initiatorIdentity,
            initiatorMetadata,
            initiator: {
              acceptResponder: (responder, metadata) => {
                seenResponder = responder;
                seenByInitiator = metadata;
                return { ok: true, value: undefined };
              },
            },
          });
          const responder = startResponder({
            clock,
            responderIdentity,
            responder: {
              admit: (_initiator, metadata) => {
                seenByResponder = metadata;
                return { ok: true, value: responderMetadata === undefined ? {} : { metadata: responderMetadata } };
              },
            },
          });
          const { step1 } = expectOk(responder.accept(initiator.init));
          const { complete, certificate: held } = expectOk(initiator.respond(step1));
          const received = expectOk(responder.complete(complete));

          assert.deepEqual(seenByResponder, initiatorMetadata);
          assert.deepEqual(seenByInitiator, responderMetadata);
          assert.ok(seenResponder?.equals(responderIdentity.id));
          assert.deepEqual(Buffer.from(held.bytes), Buffer.from(received.bytes), 'both sides hold byte-identical certificates');

          const verified = expectOk(verifyCertificate(received.bytes, { protocol: 'p2p', service: 'auth' }));
          assert.deepEqual(verified.initiatorMetadata, initiatorMetadata);
          assert.deepEqual(verified.responderMetadata, responderMetadata);
          assert.ok(verified.initiator.equals(initiatorIdentity.id));
          assert.ok(verified.responder.equals(responderIdentity.id));
          assert.equal(verified.initiator.did, initiatorIdentity.did);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('decode then encode of every handshake message is byte-exact', () => {
    fc.assert(
      fc.property(fc.option(signable, { nil: undefined }), fc.option(signable, { nil: undefined }), (initiatorMetadata, responderMetadata) => {
        const run = runHonestHandshake({ initiatorMetadata, responderMetadata });
        for (const message of [run.init, run.step1, run.complete]) {
          assert.deepEqual(Buffer.from(encodeChallenge(decoded(message))), Buffer.from(message));
        }
      }),
      { numRuns: 150 },
    );
  });

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

  test('random bytes and random values never make the decoder or any side throw', () => {
    const run = runHonestHandshake();
    const nearlyValid = fc
      .tuple(fc.constantFrom(run.init, run.step1, run.complete), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 40 }))
      .map(([message, at, junk]) => {
        const cut = at % message.length;
        return new Uint8Array(Buffer.concat([message.subarray(0, cut), junk, message.subarray(cut + junk.length)]));
      });
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 600 }),
      fc.uint8Array({ maxLength: 600 }).map((b) => new Uint8Array([0x8a, ...b])),
      nearlyValid,
      fc.anything().map((v) => {
        try {
          return encode(v);
        } catch {
          return new Uint8Array(0);
        }
      }),
      fc.anything() as fc.Arbitrary<unknown>,
    );
    fc.assert(
      fc.property(input, (bytes) => {
        attempt(() => decodeChallenge(bytes));
        attempt(() => verifyCertificate(bytes));
        attempt(() => startResponder().accept(bytes));
        attempt(() => startInitiator().respond(bytes));
      }),
      { numRuns: 300 },
    );
  });
});
