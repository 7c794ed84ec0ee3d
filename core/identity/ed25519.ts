import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';

/** DER prefixes that turn raw 32-byte keys into node:crypto keys (spec, "Raw 32-byte keys"). */
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

export const KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;

function rawKey(bytes: Uint8Array, what: string): Buffer {
  if (bytes.length !== KEY_LENGTH) throw new RangeError(`${what} must be ${KEY_LENGTH} bytes, got ${bytes.length}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, rawKey(seed, 'Ed25519 seed')]), format: 'der', type: 'pkcs8' });
}

export function ed25519PublicKey(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI, rawKey(publicKey, 'Ed25519 public key')]), format: 'der', type: 'spki' });
}

export function x25519PrivateKey(secret: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, rawKey(secret, 'X25519 secret')]), format: 'der', type: 'pkcs8' });
}

export function x25519PublicKey(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([X25519_SPKI, rawKey(publicKey, 'X25519 public key')]), format: 'der', type: 'spki' });
}

/** The raw public key is the last 32 bytes of the SPKI export. */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const der = publicKey.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - KEY_LENGTH));
}

/** Pure Ed25519 (RFC 8032), no prehash: spec §4.1. */
export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(nodeSign(null, message, privateKey));
}

/**
 * Never throws: a malformed key or signature is simply "not verified".
 * Lengths are checked first (spec §4.5) so OpenSSL never sees a truncated input.
 */
export function ed25519Verify(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_LENGTH) return false;
  try {
    return nodeVerify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}

/** Raw X25519 output (the "cypher-level" DH of spec §4.6). */
export function x25519(privateKey: KeyObject, peerPublicKey: KeyObject): Uint8Array {
  return new Uint8Array(diffieHellman({ privateKey, publicKey: peerPublicKey }));
}
