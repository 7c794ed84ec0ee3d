// vaultys/vaultysid typescript/test/interops/test-vectors.json: derivation, serialization, raw Ed25519, X25519, hmac.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalEncode, IdType, SecretIdentity, VaultysId } from '../../../../core/identity';
import { hex, readVectors, unhex } from '../../../support/interop';
import { identityFromEntropy, once, utf8 } from './support';

interface TsInteropVectors {
  keyGeneration: {
    entropy: string;
    ed25519: { publicKey: string; secretKey: string };
    x25519: { publicKey: string; secretKey: string };
  };
  identity: { type: number; did: string; idBytes: string; idBytesLength: number };
  signing: { message: string; messageUtf8: string; signature: string };
  diffieHellman: { aliceEntropy: string; bobEntropy: string; bobPublicKey: string; sharedSecret: string };
  hmac: { message: string; fullMessage: string; result: string };
  challenge: {
    challengeObject: {
      version: number;
      protocol: string;
      service: string;
      timestamp: number;
      nonce: { type: 'Buffer'; data: number[] };
    };
    challengeBytes: string;
    fullDataToSign: string;
    signature: string;
  };
  serialization: { secret: string; publicId: string };
  additionalSignatures: { message: string; signature: string }[];
}

const vectors = readVectors<TsInteropVectors>('ts-interop-vectors.json');
const identityType = vectors.identity.type as IdType;
const person = once(() => identityFromEntropy(vectors.keyGeneration.entropy, identityType));

/** The 77 secret bytes hold the Ed25519 seed at 9..41 and the X25519 secret at 45..77 (spec §3.2). */
const SEED = [9, 41] as const;
const X_SECRET = [45, 77] as const;

/**
 * The TS generator wrote text messages as UTF-8 and binary ones as hex
 * (go-comprehensive-vectors.json gives `messageHex` for these same signatures:
 * "00010203040506070809" is the ten bytes 00..09, "VaultysID" is text).
 */
const messageBytes = (message: string): Uint8Array => (/^(?:[0-9a-f]{2})+$/.test(message) ? unhex(message) : utf8(message));

describe('TypeScript interop vectors (test-vectors.json)', () => {
  test('derives the Ed25519 and X25519 key pairs from the entropy (SHA-512 split, spec §3.1)', () => {
    const { ed25519, x25519 } = vectors.keyGeneration;
    const secret = person().exportSecret();
    assert.equal(hex(secret.subarray(...SEED)), ed25519.secretKey);
    assert.equal(hex(secret.subarray(...X_SECRET)), x25519.secretKey);
    assert.equal(hex(person().id.signingKey), ed25519.publicKey);
    assert.equal(hex(person().id.encryptionKey), x25519.publicKey);
  });

  test('builds the 77-byte PERSON id and its DID', () => {
    const { idBytes, idBytesLength, did } = vectors.identity;
    assert.equal(identityType, IdType.Person);
    assert.equal(person().id.bytes.length, idBytesLength);
    assert.equal(hex(person().id.bytes), idBytes);
    assert.equal(person().did, did);
    const parsed = VaultysId.fromBytes(unhex(idBytes));
    assert.equal(parsed.did, did);
    assert.equal(parsed.type, identityType);
  });

  test('serializes the secret and the public id as the key-manager map, i.e. bytes 1..76 without the type byte', () => {
    const secret = person().exportSecret();
    assert.equal(secret[0], identityType);
    assert.equal(hex(secret.subarray(1)), vectors.serialization.secret);
    assert.equal(hex(person().id.bytes.subarray(1)), vectors.serialization.publicId);
    // Prefixing the type byte gives back a secret that reloads to the same id.
    const reloaded = SecretIdentity.fromSecret(unhex(hex(Uint8Array.of(identityType)) + vectors.serialization.secret));
    assert.equal(hex(reloaded.id.bytes), vectors.identity.idBytes);
  });

  test('reproduces the raw Ed25519 signature of the signing message, and it verifies raw', () => {
    const { message, messageUtf8, signature } = vectors.signing;
    assert.equal(hex(utf8(messageUtf8)), message);
    assert.equal(hex(person().signRaw(unhex(message))), signature);
    assert.ok(person().id.verifyRaw(unhex(message), unhex(signature)));
    assert.equal(person().id.verifyRaw(utf8(`${messageUtf8}!`), unhex(signature)), false);
  });

  for (const { message, signature } of vectors.additionalSignatures) {
    test(`reproduces the raw Ed25519 signature of ${JSON.stringify(message)}, and it verifies raw`, () => {
      const bytes = messageBytes(message);
      assert.equal(hex(person().signRaw(bytes)), signature);
      assert.ok(person().id.verifyRaw(bytes, unhex(signature)));
    });
  }

  test('computes the raw X25519 shared secret with bob, the same from both sides', () => {
    const { aliceEntropy, bobEntropy, bobPublicKey, sharedSecret } = vectors.diffieHellman;
    const alice = identityFromEntropy(aliceEntropy, identityType);
    const bob = identityFromEntropy(bobEntropy, identityType);
    assert.equal(hex(bob.id.encryptionKey), bobPublicKey);
    assert.equal(hex(alice.sharedSecret(bob.id)), sharedSecret);
    assert.equal(hex(bob.sharedSecret(alice.id)), sharedSecret);
  });

  test('computes hmac as HMAC-SHA256(X25519 secret, "VaultysID/" + message + "/end")', () => {
    const { message, fullMessage, result } = vectors.hmac;
    assert.equal(fullMessage, `VaultysID/${message}/end`);
    assert.equal(hex(person().hmac(message)), result);
  });

  test('the "challenge" entry is raw Ed25519 over "VAULTYS_SIGN" ‖ the msgpack challenge, not signChallenge (spec §4.1)', () => {
    const { challengeObject, challengeBytes, fullDataToSign, signature } = vectors.challenge;
    // The challenge bytes are the canonical msgpack of the object, its Buffer nonce as bin.
    const encoded = canonicalEncode({ ...challengeObject, nonce: Uint8Array.from(challengeObject.nonce.data) });
    assert.equal(hex(encoded), challengeBytes);
    assert.equal(fullDataToSign, hex(utf8('VAULTYS_SIGN')) + challengeBytes);
    assert.equal(hex(person().signRaw(unhex(fullDataToSign))), signature);
    assert.ok(person().id.verifyRaw(unhex(fullDataToSign), unhex(signature)));
    // signChallenge hashes first (spec §4.2), so this signature is not a signChallenge one.
    assert.equal(person().id.verifyChallenge(unhex(challengeBytes), unhex(signature)), false);
  });
});
