import { createHash, createHmac, randomBytes, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import {
  ed25519PrivateKey,
  ed25519PublicKey,
  ed25519Sign,
  ed25519Verify,
  rawPublicKey,
  x25519,
  x25519PrivateKey,
  x25519PublicKey,
} from './ed25519';
import { IdentityError } from './errors';

/** Type byte of every id and secret (spec §2.1). Hardware (3, 4) and unknown types are refused. */
export enum IdType {
  Machine = 0,
  Person = 1,
  Organization = 2,
}

export const ID_LENGTH = 77;
const SUPPORTED_TYPES = new Set<number>([IdType.Machine, IdType.Person, IdType.Organization]);
const HARDWARE_TYPES = new Set<number>([3, 4]);
/** Lengths upstream gives to post-quantum ids and secrets (spec §2.3, §3.2). */
const PQ_ID_LENGTHS = new Set<number>([2638, 2670]);
const PQ_SECRET_LENGTHS = new Set<number>([73, 84]);

/**
 * The fixed 76-byte MessagePack body after the type byte (spec §2.2):
 * 83 | a1 'v' 01 | a1 'x' c4 20 <32> | a1 'e' c4 20 <32>.
 * Built and checked byte by byte so that no other encoding of the same keys
 * (v0, wider headers, reordered or extra keys) is ever accepted.
 */
const BODY_HEAD = Buffer.from('83a176', 'hex');
const X_HEAD = Buffer.from('a178c420', 'hex');
const E_HEAD = Buffer.from('a165c420', 'hex');
const VERSION = 1;

function encodeBody(type: number, x: Uint8Array, e: Uint8Array): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from([type]), BODY_HEAD, Buffer.from([VERSION]), X_HEAD, x, E_HEAD, e]));
}

function splitBody(bytes: Uint8Array, what: 'id' | 'secret'): { type: IdType; x: Uint8Array; e: Uint8Array } {
  const malformed = what === 'id' ? 'malformed-id' : 'malformed-secret';
  if (!(bytes instanceof Uint8Array)) throw new IdentityError(malformed, `${what} must be bytes`);
  const type = bytes[0];
  if (type === undefined) throw new IdentityError(malformed, `${what} is empty`);
  if (HARDWARE_TYPES.has(type)) {
    throw new IdentityError('unsupported-id', `unsupported ${what}: hardware (FIDO2) ids are not supported`);
  }
  const pqLengths = what === 'id' ? PQ_ID_LENGTHS : PQ_SECRET_LENGTHS;
  if (pqLengths.has(bytes.length)) {
    throw new IdentityError('unsupported-id', `unsupported ${what}: post-quantum ids are not supported`);
  }
  if (!SUPPORTED_TYPES.has(type)) throw new IdentityError('unsupported-id', `unsupported ${what} type ${type}`);
  if (bytes.length !== ID_LENGTH) {
    throw new IdentityError(malformed, `${what} must be ${ID_LENGTH} bytes, got ${bytes.length}`);
  }
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!b.subarray(1, 4).equals(BODY_HEAD) || !b.subarray(5, 9).equals(X_HEAD) || !b.subarray(41, 45).equals(E_HEAD)) {
    throw new IdentityError(malformed, `${what} is not the v1 Ed25519 layout`);
  }
  if (b[4] !== VERSION) {
    throw new IdentityError('unsupported-version', `unsupported ${what} version ${b[4]}: only version 1 is accepted`);
  }
  return { type: type as IdType, x: new Uint8Array(b.subarray(9, 41)), e: new Uint8Array(b.subarray(45, 77)) };
}

/** A public VaultysId (Ed25519 flavour, version 1). Immutable. */
export class VaultysId {
  readonly bytes: Uint8Array;
  readonly did: string;
  private verifyKey?: KeyObject;
  private agreementKey?: KeyObject;

  private constructor(
    readonly type: IdType,
    /** Ed25519 public key. */
    readonly signingKey: Uint8Array,
    /** X25519 public key. */
    readonly encryptionKey: Uint8Array,
  ) {
    this.bytes = encodeBody(type, signingKey, encryptionKey);
    // Spec §2.5: type byte, then the first 19 bytes of SHA-224(kmId).
    const digest = createHash('sha224').update(this.bytes.subarray(1)).digest();
    this.did = `did:vaultys:${Buffer.concat([Buffer.from([type]), digest.subarray(0, 19)]).toString('hex')}`;
  }

  /** Strict parse of the 77-byte id; throws IdentityError with a distinct code. */
  static fromBytes(bytes: Uint8Array): VaultysId {
    const { type, x, e } = splitBody(bytes, 'id');
    return new VaultysId(type, x, e);
  }

  static fromBase64(text: string): VaultysId {
    if (typeof text !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
      throw new IdentityError('malformed-id', 'id must be base64');
    }
    return VaultysId.fromBytes(new Uint8Array(Buffer.from(text, 'base64')));
  }

  /** @internal used by SecretIdentity, whose public halves are recomputed, never read. */
  static fromKeys(type: IdType, signingKey: Uint8Array, encryptionKey: Uint8Array): VaultysId {
    return new VaultysId(type, signingKey, encryptionKey);
  }

  /** Spec §2.6: the 40 DID hex characters, upper case, in groups of four. */
  get fingerprint(): string {
    return this.did.slice('did:vaultys:'.length).toUpperCase().match(/.{4}/g)!.join(' ');
  }

  toBase64(): string {
    return Buffer.from(this.bytes).toString('base64');
  }

  equals(other: VaultysId): boolean {
    return Buffer.compare(this.bytes, other.bytes) === 0;
  }

  /**
   * The same signer, whatever the type byte or X25519 key beside the Ed25519 key: who signs is what a
   * self-handshake check asks, and a whole-id comparison lets one key past as its own peer under another id.
   */
  sharesSigningKey(other: VaultysId): boolean {
    return Buffer.compare(this.signingKey, other.signingKey) === 0;
  }

  get publicKeyObject(): KeyObject {
    this.verifyKey ??= ed25519PublicKey(this.signingKey);
    return this.verifyKey;
  }

  get agreementKeyObject(): KeyObject {
    this.agreementKey ??= x25519PublicKey(this.encryptionKey);
    return this.agreementKey;
  }

  /** Raw Ed25519 verification (spec §4.1); only for interop with data signed that way. */
  verifyRaw(message: Uint8Array, signature: Uint8Array): boolean {
    return ed25519Verify(this.publicKeyObject, message, signature);
  }

  /** Spec §4.2: Ed25519 over SHA-256("VAULTYS_SIGN" ‖ m). */
  verifyChallenge(message: Uint8Array, signature: Uint8Array): boolean {
    if (!(message instanceof Uint8Array)) return false;
    return ed25519Verify(this.publicKeyObject, challengeDigest(message), signature);
  }

  /** Spec §2.7 (informative): note the padded base64 after "m". */
  didDocument(): Record<string, unknown> {
    return {
      '@context': ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/suites/ed25519-2020/v1'],
      id: this.did,
      authentication: [
        {
          id: `${this.did}#keys-1`,
          type: 'Ed25519VerificationKey2020',
          controller: this.did,
          publicKeyMultibase: `m${Buffer.from(this.signingKey).toString('base64')}`,
        },
      ],
      keyAgreement: [
        {
          id: `${this.did}#keys-2`,
          type: 'X25519KeyAgreementKey2019',
          controller: this.did,
          publicKeyMultibase: `m${Buffer.from(this.encryptionKey).toString('base64')}`,
        },
      ],
    };
  }

  toString(): string {
    return this.did;
  }
}

const SIGN_PREFIX = Buffer.from('VAULTYS_SIGN', 'ascii');

/** The 32-byte digest that signChallenge signs (spec §4.2). Bytes only: strings are refused (spec §4.4). */
export function challengeDigest(message: Uint8Array): Uint8Array {
  if (!(message instanceof Uint8Array)) throw new TypeError('signChallenge takes bytes, never strings');
  return createHash('sha256').update(SIGN_PREFIX).update(message).digest();
}

/**
 * A VaultysId with its private halves. The secret never appears in logs:
 * inspect and JSON show only the DID.
 */
export class SecretIdentity {
  readonly id: VaultysId;
  readonly #signingKey: KeyObject;
  readonly #agreementKey: KeyObject;
  readonly #edSeed: Uint8Array;
  readonly #xSecret: Uint8Array;

  private constructor(type: IdType, edSeed: Uint8Array, xSecret: Uint8Array) {
    this.#edSeed = edSeed;
    this.#xSecret = xSecret;
    this.#signingKey = ed25519PrivateKey(edSeed);
    this.#agreementKey = x25519PrivateKey(xSecret);
    // Public halves are always recomputed from the private ones (spec §3.2).
    this.id = VaultysId.fromKeys(type, rawPublicKey(this.#signingKey), rawPublicKey(this.#agreementKey));
  }

  /** Spec §3.1: seed = SHA-512(entropy); Ed25519 seed = seed[0:32], X25519 secret = seed[32:64] (unclamped). */
  static fromEntropy(type: IdType, entropy: Uint8Array): SecretIdentity {
    if (!SUPPORTED_TYPES.has(type)) throw new IdentityError('unsupported-id', `unsupported id type ${type}`);
    const seed = createHash('sha512').update(entropy).digest();
    return new SecretIdentity(type, new Uint8Array(seed.subarray(0, 32)), new Uint8Array(seed.subarray(32, 64)));
  }

  static generate(type: IdType): SecretIdentity {
    return SecretIdentity.fromEntropy(type, randomBytes(32));
  }

  /** Strict parse of the 77-byte secret (same layout as the id, private halves in place). */
  static fromSecret(bytes: Uint8Array): SecretIdentity {
    const { type, x, e } = splitBody(bytes, 'secret');
    return new SecretIdentity(type, x, e);
  }

  get did(): string {
    return this.id.did;
  }

  /** The 77 secret bytes, for a key file or SecretStorage only. */
  exportSecret(): Uint8Array {
    return encodeBody(this.id.type, this.#edSeed, this.#xSecret);
  }

  /** Spec §4.2. Every signature of the product's protocols goes through this. */
  signChallenge(message: Uint8Array): Uint8Array {
    return ed25519Sign(this.#signingKey, challengeDigest(message));
  }

  /** Raw Ed25519 (spec §4.1), no domain separation: interop vectors only. */
  signRaw(message: Uint8Array): Uint8Array {
    return ed25519Sign(this.#signingKey, message);
  }

  /** Spec §4.6: HMAC-SHA256(xSec, "VaultysID/" + msg + "/end"). */
  hmac(message: string): Uint8Array {
    return new Uint8Array(createHmac('sha256', this.#xSecret).update(`VaultysID/${message}/end`, 'utf8').digest());
  }

  /** Raw X25519 shared secret with a peer's id. */
  sharedSecret(peer: VaultysId): Uint8Array {
    return x25519(this.#agreementKey, peer.agreementKeyObject);
  }

  toJSON(): { did: string } {
    return { did: this.did };
  }

  [inspect.custom](): string {
    return `SecretIdentity(${this.did})`;
  }

  toString(): string {
    return `SecretIdentity(${this.did})`;
  }
}
