import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encode } from '@msgpack/msgpack';
import { decodeChallenge, verifyCertificate, type VaultysId } from '../../../core/identity';
import { randomIdentity, signable } from './support/arbitraries';
import { ManualClock, attempt, expectOk, runHonestHandshake, startInitiator, startResponder } from './support/handshake';

describe('Challenger properties', () => {
  test('random ids and random signable metadata: the handshake completes and every side reads back exactly the metadata that was set', () => {
    fc.assert(
      fc.property(
        randomIdentity,
        randomIdentity,
        fc.option(signable, { nil: undefined }),
        fc.option(signable, { nil: undefined }),
        (initiatorIdentity, responderIdentity, initiatorMetadata, responderMetadata) => {
          // One key on both sides is a self-handshake, whatever the type bytes (challenger/initiator.test.ts and responder.test.ts test that refusal).
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
