// vaultys/vaultysid typescript/test/fido2_test_vectors.json, parse-only: our product supports Ed25519 ids (types
// 0–2) only, so every hardware (FIDO2, type 3; FIDO2PRF, type 4) id or secret must be refused with a clear
// "unsupported" IdentityError, never a crash (spec §2.3). The file's signatures, DH, transport bitmasks and COSE
// encodings concern the FIDO2 key manager itself and are out of scope.
//
// Fingerprints: our code computes a fingerprint only as a getter of a parsed VaultysId, and FIDO2 ids cannot be
// parsed, so the did/fingerprint pairs here are not checked (reference-ts-transcripts.test.ts checks the format).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalEncode, decodeChallenge, IdentityError, SecretIdentity, VaultysId } from '../../../../core/identity';
import { readVectors, unhex } from '../../../support/interop';
import { assertIdentityError, assertRejected } from './support';

interface Encoded {
  hex: string;
  base64: string;
}

interface ManagerSerialization {
  algorithm: string;
  /** The key-manager forms: the msgpack map without the VaultysId type byte. */
  secret: Encoded;
  id: Encoded;
}

interface Fido2VaultysId {
  typeValue: number;
  id: Encoded;
  secret: Encoded;
  did: string;
}

interface Fido2Vectors {
  vectors: { name: string; data: unknown }[];
}

const file = readVectors<Fido2Vectors>('fido2-ids.json');

function vector<T>(name: string): T {
  const found = file.vectors.find((v) => v.name === name);
  assert.ok(found, `fido2-ids.json has no ${name} vector`);
  return found.data as T;
}

/** Hex and base64 forms must be the same bytes, or the vector itself is inconsistent. */
function bytesOf(encoded: Encoded): Uint8Array {
  const bytes = unhex(encoded.hex);
  assert.equal(Buffer.from(bytes).toString('base64'), encoded.base64);
  return bytes;
}

const HARDWARE_TYPES = [3, 4] as const;
const withType = (type: number, keyManagerBytes: Uint8Array) => Uint8Array.of(type, ...keyManagerBytes);

const vaultysIds = vector<Record<'ed25519' | 'p256', Fido2VaultysId>>('vaultysid_fido2');
const managers = ['ed25519_serialization', 'p256_serialization'].map((name) => ({ name, data: vector<ManagerSerialization>(name) }));

describe('FIDO2 ids and secrets are refused as unsupported (fido2-ids.json)', () => {
  for (const [flavour, v] of Object.entries(vaultysIds)) {
    test(`refuses the ${flavour} FIDO2 id (type ${v.typeValue}), from bytes and from base64`, () => {
      assert.equal(v.typeValue, 3);
      const bytes = bytesOf(v.id);
      assert.equal(bytes[0], v.typeValue);
      assertIdentityError(() => VaultysId.fromBytes(bytes), 'unsupported-id', /unsupported/);
      assertIdentityError(() => VaultysId.fromBase64(v.id.base64), 'unsupported-id', /unsupported/);
    });

    test(`refuses the ${flavour} FIDO2 secret (type ${v.typeValue})`, () => {
      const bytes = bytesOf(v.secret);
      assert.equal(bytes[0], v.typeValue);
      assertIdentityError(() => SecretIdentity.fromSecret(bytes), 'unsupported-id', /unsupported/);
    });
  }

  for (const { name, data } of managers) {
    test(`refuses the ${data.algorithm} key-manager id and secret of ${name} under either hardware type byte`, () => {
      const id = bytesOf(data.id);
      const secret = bytesOf(data.secret);
      for (const type of HARDWARE_TYPES) {
        assertIdentityError(() => VaultysId.fromBytes(withType(type, id)), 'unsupported-id', /unsupported/);
        assertIdentityError(() => SecretIdentity.fromSecret(withType(type, secret)), 'unsupported-id', /unsupported/);
      }
    });

    test(`refuses the bare key-manager id of ${name} (no type byte) with an IdentityError`, () => {
      // Its first byte is the msgpack map header, which is no id type of ours.
      assert.throws(() => VaultysId.fromBytes(bytesOf(data.id)), IdentityError);
    });
  }

  test('a handshake INIT naming a FIDO2 id as pk1 is refused as unsupported-id, not as malformed', () => {
    const init = canonicalEncode({
      version: 1,
      protocol: 'p2p',
      service: 'auth',
      timestamp: 1_767_225_600_000,
      pk1: bytesOf(vaultysIds.ed25519.id),
      nonce: new Uint8Array(16),
      metadata: {},
    });
    assertRejected(decodeChallenge(init), 'unsupported-id');
  });
});
