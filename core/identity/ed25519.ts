import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { IdentityError } from './errors';

/** DER prefixes that turn raw 32-byte private keys into node:crypto keys (spec, "Raw 32-byte keys"). */
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

export const KEY_LENGTH = 32;
export const SIGNATURE_LENGTH = 64;

function rawKey(bytes: Uint8Array, what: string): Buffer {
  if (bytes.length !== KEY_LENGTH) throw new RangeError(`${what} must be ${KEY_LENGTH} bytes, got ${bytes.length}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, rawKey(seed, 'Ed25519 seed')]), format: 'der', type: 'pkcs8' });
}

/**
 * Public keys are imported as JWK: with OpenSSL 3.0 a DER import costs about as
 * much as a verification, a JWK import a tenth of it (bench/identity.ts).
 */
export function ed25519PublicKey(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: rawKey(publicKey, 'Ed25519 public key').toString('base64url') }, format: 'jwk' });
}

export function x25519PrivateKey(secret: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, rawKey(secret, 'X25519 secret')]), format: 'der', type: 'pkcs8' });
}

export function x25519PublicKey(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: rawKey(publicKey, 'X25519 public key').toString('base64url') }, format: 'jwk' });
}

/** The raw 32-byte public key (JWK export: far cheaper than a DER round trip). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const x = key.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') throw new TypeError('not an OKP key');
  const raw = Buffer.from(x, 'base64url');
  if (raw.length !== KEY_LENGTH) throw new RangeError('unexpected public key length');
  return new Uint8Array(raw);
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

/**
 * Raw X25519 output (the "cypher-level" DH of spec §4.6). OpenSSL refuses an all-zero result (RFC 7748 §6.1: the
 * peer sent a low-order point, so the "secret" would be known to anyone); that refusal becomes a typed error.
 */
export function x25519(privateKey: KeyObject, peerPublicKey: KeyObject): Uint8Array {
  try {
    return new Uint8Array(diffieHellman({ privateKey, publicKey: peerPublicKey }));
  } catch {
    throw new IdentityError('weak-agreement-key', 'the peer\'s X25519 key is a low-order point: no shared secret can be agreed with it');
  }
}
