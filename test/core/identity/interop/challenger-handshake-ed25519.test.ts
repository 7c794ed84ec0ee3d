// RFC vector of the Challenger handshake (vaultys/vaultysid rfc/vectors/challenger-handshake-ed25519.json,
// branch docs/rfc-protocol-fixes): a whole v1 run with a fixed clock and fixed nonces, empty metadata.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeChallenge, SecretIdentity, signedBytes, verifyCertificate } from '../../../../core/identity';
import { hex, readVectors, unhex } from '../../../support/interop';
import { assertAccepted, assertRejected, identityFromEntropy, idTypeOf, once, runHandshake } from './support';

interface Party {
  secretHex: string;
  idHex: string;
  did: string;
}

interface Step {
  name: string;
  state: number;
  wireBytesHex: string;
  unsignedBytesHex?: string;
  sign1Hex?: string;
  sign2Hex?: string;
  verifiedByPeer: boolean;
}

interface HandshakeVectors {
  inputs: {
    aliceEntropyHex: string;
    bobEntropyHex: string;
    protocol: string;
    service: string;
    timestampMs: number;
    nonce1Hex: string;
    nonce2Hex: string;
  };
  identities: { alice: Party; bob: Party };
  steps: Step[];
}

const vectors = readVectors<HandshakeVectors>('challenger-handshake-ed25519.json');
const { inputs, identities } = vectors;

function step(name: 'init' | 'step1' | 'complete'): Step & { wire: Uint8Array } {
  const found = vectors.steps.find((s) => s.name === name);
  assert.ok(found, `the vector file has no ${name} step`);
  assert.equal(found.verifiedByPeer, true);
  return { ...found, wire: unhex(found.wireBytesHex) };
}

function party(name: 'alice' | 'bob'): SecretIdentity {
  const p = identities[name];
  return identityFromEntropy(name === 'alice' ? inputs.aliceEntropyHex : inputs.bobEntropyHex, idTypeOf(unhex(p.secretHex)));
}

const regenerated = once(() =>
  runHandshake({
    initiator: party('alice'),
    responder: party('bob'),
    protocol: inputs.protocol,
    service: inputs.service,
    timestamp: inputs.timestampMs,
    initiatorNonce: unhex(inputs.nonce1Hex),
    responderNonce: unhex(inputs.nonce2Hex),
  }),
);

/** Offset of the 64-byte value of a `sign1`/`sign2` field (key fixstr, then bin8 header c4 40). */
function signatureOffset(wire: Uint8Array, key: 'sign1' | 'sign2'): number {
  const marker = Buffer.concat([Buffer.from([0xa5]), Buffer.from(key, 'ascii'), Buffer.from([0xc4, 0x40])]);
  const at = Buffer.from(wire).indexOf(marker);
  assert.ok(at >= 0, `${key} not found in the certificate`);
  return at + marker.length;
}

describe('RFC Challenger vector (Ed25519, v1, empty metadata)', () => {
  for (const name of ['alice', 'bob'] as const) {
    test(`derives ${name}'s secret, id and DID from the entropy, with the type byte of the recorded secret`, () => {
      const expected = identities[name];
      const derived = party(name);
      assert.equal(hex(derived.exportSecret()), expected.secretHex);
      assert.equal(hex(derived.id.bytes), expected.idHex);
      assert.equal(derived.did, expected.did);
      // Reloading the secret alone gives the same id (spec §3.2).
      assert.equal(hex(SecretIdentity.fromSecret(unhex(expected.secretHex)).id.bytes), expected.idHex);
    });
  }

  test('regenerates INIT byte for byte from the recorded clock and initiator nonce', () => {
    assert.equal(hex(regenerated().init), step('init').wireBytesHex);
  });

  test('regenerates STEP1 byte for byte; sign2 is signChallenge over the recorded unsigned bytes U', () => {
    const recorded = step('step1');
    assert.equal(hex(regenerated().step1), recorded.wireBytesHex);
    const decoded = assertAccepted(decodeChallenge(recorded.wire), 'recorded STEP1');
    assert.equal(decoded.state, 'step1');
    assert.equal(hex(signedBytes(decoded)), recorded.unsignedBytesHex);
    assert.equal(hex(decoded.sign2!), recorded.sign2Hex);
    assert.ok(decoded.pk2!.verifyChallenge(signedBytes(decoded), decoded.sign2!));
  });

  test('regenerates COMPLETE byte for byte; sign1 and sign2 cover the same U as at STEP1', () => {
    const recorded = step('complete');
    assert.equal(hex(regenerated().complete), recorded.wireBytesHex);
    const decoded = assertAccepted(decodeChallenge(recorded.wire), 'recorded COMPLETE');
    assert.equal(decoded.state, 'complete');
    assert.equal(hex(signedBytes(decoded)), recorded.unsignedBytesHex);
    assert.equal(recorded.unsignedBytesHex, step('step1').unsignedBytesHex);
    assert.equal(hex(decoded.sign1!), recorded.sign1Hex);
    assert.equal(hex(decoded.sign2!), recorded.sign2Hex);
  });

  test('both sides of the regenerated run hold the recorded COMPLETE as their certificate', () => {
    const run = regenerated();
    const recorded = step('complete').wireBytesHex;
    assert.equal(hex(run.initiatorCertificate.bytes), recorded);
    assert.equal(hex(run.responderCertificate.bytes), recorded);
  });

  test('verifies the recorded certificate: alice initiated, bob responded, no metadata', () => {
    const cert = assertAccepted(verifyCertificate(step('complete').wire), 'recorded certificate');
    assert.equal(cert.initiator.did, identities.alice.did);
    assert.equal(cert.responder.did, identities.bob.did);
    assert.equal(cert.protocol, inputs.protocol);
    assert.equal(cert.service, inputs.service);
    assert.equal(cert.timestamp, inputs.timestampMs);
    assert.equal(hex(cert.nonce), inputs.nonce1Hex + inputs.nonce2Hex);
    assert.equal(cert.initiatorMetadata, undefined);
    assert.equal(cert.responderMetadata, undefined);
  });

  test('rejects every single-byte tamper of the certificate with a reason, and never throws', () => {
    const original = step('complete').wire;
    const sign1At = signatureOffset(original, 'sign1');
    const sign2At = signatureOffset(original, 'sign2');
    const masks = [0x01, 0x02, 0x20, 0x80, 0xff];
    const problems: string[] = [];
    const reasons = new Map<string, number>();
    let tried = 0;
    for (let i = 0; i < original.length; i++) {
      for (const mask of masks) {
        const tampered = new Uint8Array(original);
        tampered[i]! ^= mask;
        tried++;
        let result: ReturnType<typeof verifyCertificate>;
        try {
          result = verifyCertificate(tampered);
        } catch (err) {
          problems.push(`byte ${i} ^ ${mask}: threw ${String(err)}`);
          continue;
        }
        if (result.ok) {
          problems.push(`byte ${i} ^ ${mask}: accepted`);
          continue;
        }
        if (typeof result.reason !== 'string' || result.message.length === 0) problems.push(`byte ${i} ^ ${mask}: no reason`);
        reasons.set(result.reason, (reasons.get(result.reason) ?? 0) + 1);
        // A tamper inside a signature value leaves a well-formed message: only that signature can catch it.
        if (i >= sign1At && i < sign1At + 64 && result.reason !== 'bad-initiator-signature') {
          problems.push(`byte ${i} ^ ${mask} (in sign1): ${result.reason}`);
        }
        if (i >= sign2At && i < sign2At + 64 && result.reason !== 'bad-responder-signature') {
          problems.push(`byte ${i} ^ ${mask} (in sign2): ${result.reason}`);
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.equal(tried, original.length * masks.length);
    assert.ok(original.length > 400, `the certificate is ${original.length} bytes`);
    // The tampers reach every layer: decoding, schema, ids and both signatures.
    for (const reason of ['non-canonical', 'bad-responder-signature', 'bad-initiator-signature'] as const) {
      assert.ok((reasons.get(reason) ?? 0) > 0, `no tamper was refused as ${reason}: ${JSON.stringify([...reasons])}`);
    }
  });

  test('refuses the recorded INIT and STEP1 as certificates: only COMPLETE carries both signatures', () => {
    assertRejected(verifyCertificate(step('init').wire), 'unexpected-message');
    assertRejected(verifyCertificate(step('step1').wire), 'unexpected-message');
  });
});
