// vaultys/vaultysid go/test/compatibility/go-comprehensive-vectors.json (Dec 2025): derivation for the three id
// types, serialization in hex and base64, raw signatures, X25519, hmac — and a Challenger transcript that Go signed
// over a non-canonical encoding (version `cc 01`, timestamp `d3` in seconds, keys in random order; spec §5.11),
// which a canonical verifier must refuse.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeChallenge, IdType, SecretIdentity, VaultysId, verifyCertificate } from '../../../../core/identity';
import { hex, readVectors, unhex } from '../../../support/interop';
import { assertRejected, identityFromEntropy, once, utf8 } from './support';

interface LegacyVectors {
  keyGeneration: {
    entropy: string;
    ed25519: { publicKey: string; secretKey: string };
    x25519: { publicKey: string; secretKey: string };
  };
  identity: { type: number; typeName: string; idBytes: string; idBytesLength: number; did: string; version: number };
  signing: {
    message: string;
    messageHex: string;
    signature: string;
    additionalSignatures: { name: string; message: string; messageHex: string; signature: string }[];
  };
  diffieHellman: { aliceEntropy: string; bobEntropy: string; alicePublicKey: string; bobPublicKey: string; sharedSecret: string };
  hmac: { message: string; result: string };
  serialization: { secret: string; publicId: string; secretBase64: string; publicBase64: string };
  challenge: { steps: { name: string; messageHex: string }[] };
  crossVerification: {
    name: string;
    entropy: string;
    type: number;
    message: string;
    signature: string;
    did: string;
    idBytes: string;
    canVerify: boolean;
  }[];
}

const vectors = readVectors<LegacyVectors>('go-legacy-vectors.json');
const person = once(() => identityFromEntropy(vectors.keyGeneration.entropy, vectors.identity.type as IdType));

describe('Go comprehensive vectors (go-legacy-vectors.json)', () => {
  test('derives the person key pairs from the entropy', () => {
    const { ed25519, x25519 } = vectors.keyGeneration;
    const secret = person().exportSecret();
    assert.equal(hex(secret.subarray(9, 41)), ed25519.secretKey);
    assert.equal(hex(secret.subarray(45, 77)), x25519.secretKey);
    assert.equal(hex(person().id.signingKey), ed25519.publicKey);
    assert.equal(hex(person().id.encryptionKey), x25519.publicKey);
  });

  test('builds the v1 PERSON id and DID', () => {
    const { type, typeName, idBytes, idBytesLength, did, version } = vectors.identity;
    assert.equal(type, IdType.Person);
    assert.equal(typeName, 'person');
    assert.equal(version, 1);
    assert.equal(person().id.bytes.length, idBytesLength);
    assert.equal(hex(person().id.bytes), idBytes);
    assert.equal(person().did, did);
  });

  test('serializes the secret and the id with their type byte, in hex and in base64', () => {
    const { secret, publicId, secretBase64, publicBase64 } = vectors.serialization;
    const exported = person().exportSecret();
    assert.equal(hex(exported), secret);
    assert.equal(Buffer.from(exported).toString('base64'), secretBase64);
    assert.equal(hex(person().id.bytes), publicId);
    assert.equal(person().id.toBase64(), publicBase64);
    // And back: both base64 forms parse to the same identity.
    assert.equal(VaultysId.fromBase64(publicBase64).did, vectors.identity.did);
    assert.equal(SecretIdentity.fromSecret(new Uint8Array(Buffer.from(secretBase64, 'base64'))).did, vectors.identity.did);
  });

  const signatures = [
    { name: 'signing', message: vectors.signing.message, messageHex: vectors.signing.messageHex, signature: vectors.signing.signature },
    ...vectors.signing.additionalSignatures,
  ];
  for (const { name, message, messageHex, signature } of signatures) {
    test(`reproduces the raw Ed25519 signature of the ${name} message, and it verifies raw`, () => {
      assert.equal(hex(utf8(message)), messageHex);
      assert.equal(hex(person().signRaw(unhex(messageHex))), signature);
      assert.ok(person().id.verifyRaw(unhex(messageHex), unhex(signature)));
    });
  }

  test('computes the same raw X25519 shared secret from both sides', () => {
    const { aliceEntropy, bobEntropy, alicePublicKey, bobPublicKey, sharedSecret } = vectors.diffieHellman;
    const alice = identityFromEntropy(aliceEntropy, IdType.Person);
    const bob = identityFromEntropy(bobEntropy, IdType.Person);
    assert.equal(hex(alice.id.encryptionKey), alicePublicKey);
    assert.equal(hex(bob.id.encryptionKey), bobPublicKey);
    assert.equal(hex(alice.sharedSecret(bob.id)), sharedSecret);
    assert.equal(hex(bob.sharedSecret(alice.id)), sharedSecret);
  });

  test('computes the hmac of the person identity', () => {
    assert.equal(hex(person().hmac(vectors.hmac.message)), vectors.hmac.result);
  });

  for (const entry of vectors.crossVerification) {
    test(`${entry.name}: derives the type-${entry.type} id and DID from entropy, and its raw signature verifies`, () => {
      const derived = identityFromEntropy(entry.entropy, entry.type as IdType);
      assert.equal(hex(derived.id.bytes), entry.idBytes);
      assert.equal(derived.did, entry.did);
      assert.ok(entry.did.startsWith(`did:vaultys:0${entry.type}`));
      assert.equal(hex(derived.signRaw(utf8(entry.message))), entry.signature);
      const parsed = VaultysId.fromBytes(unhex(entry.idBytes));
      assert.equal(parsed.type, entry.type);
      assert.equal(parsed.verifyRaw(utf8(entry.message), unhex(entry.signature)), entry.canVerify);
    });
  }

  describe('the Go-legacy Challenger transcript (signed over non-canonical bytes, spec §5.11)', () => {
    for (const { name, messageHex } of vectors.challenge.steps) {
      test(`refuses the ${name} message as non-canonical MessagePack`, () => {
        assertRejected(decodeChallenge(unhex(messageHex)), 'non-canonical');
      });
    }

    test('refuses the legacy COMPLETE message as a certificate', () => {
      const complete = vectors.challenge.steps.find((s) => s.name === 'complete');
      assert.ok(complete, 'the vector file has no complete step');
      assertRejected(verifyCertificate(unhex(complete.messageHex)), 'non-canonical');
    });
  });
});
