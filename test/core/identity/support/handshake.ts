import assert from 'node:assert/strict';
import { decode, encode } from '@msgpack/msgpack';
import {
  ChallengeInitiator,
  ChallengeResponder,
  IdType,
  SecretIdentity,
  VaultysId,
  decodeChallenge,
  encodeChallenge,
  signedBytes,
  type Certificate,
  type ChallengeMessage,
  type HandshakeRejection,
  type HandshakeResult,
  type InitiatorOptions,
  type PeerDecision,
  type ResponderOptions,
} from '../../../../core/identity';

/** 2025-01-01T00:00:00Z, the RFC vector's INIT timestamp. Every run starts its clock here. */
export const T0 = 1_735_689_600_000;
export const PROTOCOL = 'p2p';
export const SERVICE = 'auth';
export const LIVENESS_MS = 60_000;

/** Deterministic ids: entropy is 32 copies of `seed`. */
export function identityFrom(seed: number, type: IdType = IdType.Machine): SecretIdentity {
  return SecretIdentity.fromEntropy(type, new Uint8Array(32).fill(seed));
}

/** A clock both sides read; tests move it to cross the liveness window. */
export class ManualClock {
  constructor(public time: number = T0) {}
  readonly now = (): number => this.time;
}

let nonceCounter = 0;
/** Distinct 16-byte nonces for the whole process, so two sessions never share a nonce half by accident. */
export function nextNonce(): Uint8Array {
  nonceCounter += 1;
  const nonce = new Uint8Array(16);
  new DataView(nonce.buffer).setUint32(12, nonceCounter);
  nonce[0] = 0x4e;
  return nonce;
}

/**
 * Counts every signChallenge an identity makes (by wrapping it on this
 * instance only), so a test can prove a side refused *before* signing.
 */
export function countSignatures(identity: SecretIdentity): { readonly count: number } {
  const counter = { count: 0 };
  const original = identity.signChallenge.bind(identity);
  identity.signChallenge = (message: Uint8Array): Uint8Array => {
    counter.count += 1;
    return original(message);
  };
  return counter;
}

export interface HandshakeSetup {
  initiatorIdentity?: SecretIdentity;
  responderIdentity?: SecretIdentity;
  initiatorMetadata?: unknown;
  responderMetadata?: unknown;
  clock?: ManualClock;
  initiator?: Partial<InitiatorOptions>;
  responder?: Partial<ResponderOptions>;
}

export function startInitiator(setup: HandshakeSetup = {}): ChallengeInitiator {
  const clock = setup.clock ?? new ManualClock();
  return new ChallengeInitiator({
    identity: setup.initiatorIdentity ?? identityFrom(1, IdType.Machine),
    protocol: PROTOCOL,
    service: SERVICE,
    now: clock.now,
    randomNonce: nextNonce,
    ...(setup.initiatorMetadata !== undefined ? { metadata: setup.initiatorMetadata } : {}),
    acceptResponder: () => ({ ok: true, value: undefined }),
    ...setup.initiator,
  });
}

export function startResponder(setup: HandshakeSetup = {}): ChallengeResponder {
  const clock = setup.clock ?? new ManualClock();
  const metadata = setup.responderMetadata;
  return new ChallengeResponder({
    identity: setup.responderIdentity ?? identityFrom(2, IdType.Person),
    protocol: PROTOCOL,
    service: SERVICE,
    now: clock.now,
    randomNonce: nextNonce,
    admit: () => ({ ok: true, value: metadata !== undefined ? { metadata } : {} }),
    ...setup.responder,
  });
}

export interface HonestRun {
  initiatorIdentity: SecretIdentity;
  responderIdentity: SecretIdentity;
  clock: ManualClock;
  initiator: ChallengeInitiator;
  responder: ChallengeResponder;
  init: Uint8Array;
  step1: Uint8Array;
  complete: Uint8Array;
  initiatorCertificate: Certificate;
  responderCertificate: Certificate;
}

/** A whole honest handshake with fixed ids and clock; fails the test if any step is refused. */
export function runHonestHandshake(setup: HandshakeSetup = {}): HonestRun {
  const clock = setup.clock ?? new ManualClock();
  const initiatorIdentity = setup.initiatorIdentity ?? identityFrom(1, IdType.Machine);
  const responderIdentity = setup.responderIdentity ?? identityFrom(2, IdType.Person);
  const full = { ...setup, clock, initiatorIdentity, responderIdentity };
  const initiator = startInitiator(full);
  const responder = startResponder(full);
  const accepted = expectOk(responder.accept(initiator.init));
  const responded = expectOk(initiator.respond(accepted.step1));
  const responderCertificate = expectOk(responder.complete(responded.complete));
  return {
    initiatorIdentity,
    responderIdentity,
    clock,
    initiator,
    responder,
    init: initiator.init,
    step1: accepted.step1,
    complete: responded.complete,
    initiatorCertificate: responded.certificate,
    responderCertificate,
  };
}

export function expectOk<T>(result: HandshakeResult<T>): T {
  if (!result.ok) assert.fail(`expected success, got ${result.reason}: ${result.message}`);
  return result.value;
}

/** Runs an entry point that promises never to throw; an exception escaping it fails the test. */
export function attempt<T>(call: () => HandshakeResult<T>): HandshakeResult<T> {
  try {
    return call();
  } catch (err) {
    assert.fail(`an exception escaped an entry point that must return a refusal: ${String(err)}`);
  }
}

/**
 * Runs a call that must refuse, and returns the reason. An exception escaping
 * the call, or an acceptance, fails the test: every entry point promises to
 * return a refusal, never to throw.
 */
export function refusalOf(call: () => HandshakeResult<unknown>): HandshakeRejection {
  const result = attempt(call);
  if (result.ok) assert.fail('expected a refusal, but the message was accepted');
  assert.equal(typeof result.message, 'string');
  return result.reason;
}

/** Decodes one of our own (canonical) messages into its typed form. */
export function decoded(bytes: Uint8Array): ChallengeMessage {
  return expectOk(decodeChallenge(bytes));
}

/** A copy of `message` with `field` signed afresh by `signer` over its U, as an attacker holding that key would. */
export function resigned(message: ChallengeMessage, signer: SecretIdentity, field: 'sign1' | 'sign2'): ChallengeMessage {
  return { ...message, [field]: signer.signChallenge(signedBytes(message)) };
}

/**
 * The responder-side forgery: take an honest STEP1, change it, sign sign2
 * again with `signer` and encode it canonically.
 */
export function forgedStep1(step1: Uint8Array, change: (m: ChallengeMessage) => ChallengeMessage, signer: SecretIdentity): Uint8Array {
  return encodeChallenge(resigned(change(decoded(step1)), signer, 'sign2'));
}

/** An INIT made by hand (an attacker needs no key for it: INIT is unsigned). */
export function craftedInit(fields: Partial<ChallengeMessage> & Pick<ChallengeMessage, 'pk1'>): Uint8Array {
  return encodeChallenge({
    state: 'init',
    protocol: PROTOCOL,
    service: SERVICE,
    timestamp: T0,
    nonce: nextNonce(),
    metadata: {},
    ...fields,
  });
}

export function flipped(bytes: Uint8Array, index: number, mask = 0xff): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = (copy[index] ?? 0) ^ mask;
  return copy;
}

export function concatBytes(...parts: ArrayLike<number>[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => Uint8Array.from(p))));
}

// ---- Wire-level builders: MessagePack written byte by byte, so that tests can
// produce encodings our encoder never would (wide headers, key orders, duplicates).

/** One map entry: the key, and its value already encoded (canonically or not). */
export type WireEntry = [key: string, value: Uint8Array];

/** The top-level entries of a canonical message, each value re-encoded canonically. */
export function wireEntries(bytes: Uint8Array): WireEntry[] {
  const map = decode(bytes) as Record<string, unknown>;
  return Object.entries(map).map(([k, v]) => [k, encode(v)]);
}

function fixstrKey(key: string): Uint8Array {
  const utf8 = Buffer.from(key, 'utf8');
  assert.ok(utf8.length < 32, 'wire keys here are short');
  return concatBytes([0xa0 | utf8.length], utf8);
}

/** A map with exactly these entries in this order (fixmap header up to 15, else map16). */
export function wireMap(entries: readonly WireEntry[]): Uint8Array {
  const n = entries.length;
  const header = n <= 15 ? [0x80 | n] : [0xde, n >> 8, n & 0xff];
  return concatBytes(header, ...entries.flatMap(([k, v]) => [fixstrKey(k), v]));
}

/** The same message with one value's encoding replaced (the key must exist). */
export function withValue(bytes: Uint8Array, key: string, value: Uint8Array): Uint8Array {
  const entries = wireEntries(bytes);
  assert.ok(entries.some(([k]) => k === key), `no ${key} in this message`);
  return wireMap(entries.map(([k, v]) => [k, k === key ? value : v]));
}

/** A str8 header where a fixstr would do (non-canonical for strings under 32 bytes). */
export function str8(text: string): Uint8Array {
  const utf8 = Buffer.from(text, 'utf8');
  return concatBytes([0xd9, utf8.length], utf8);
}

/** A string header over arbitrary bytes, to carry byte sequences that are not UTF-8. */
export function fixstrOfBytes(raw: ArrayLike<number>): Uint8Array {
  assert.ok(raw.length < 32);
  return concatBytes([0xa0 | raw.length], raw);
}

export function bin16(bytes: Uint8Array): Uint8Array {
  return concatBytes([0xc5, bytes.length >> 8, bytes.length & 0xff], bytes);
}

/** A signed int64 (d3), as the Go port wrote timestamps before its fix. */
export function int64(value: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = 0xd3;
  new DataView(out.buffer).setBigInt64(1, BigInt(value));
  return out;
}

export function float64(value: number): Uint8Array {
  const out = new Uint8Array(9);
  out[0] = 0xcb;
  new DataView(out.buffer).setFloat64(1, value);
  return out;
}

export function float32(value: number): Uint8Array {
  const out = new Uint8Array(5);
  out[0] = 0xca;
  new DataView(out.buffer).setFloat32(1, value);
  return out;
}

/** Metadata {pk1: value} with pk1's value given as raw bytes. */
export function metadataWithRawPk1(value: Uint8Array): Uint8Array {
  return wireMap([['pk1', value]]);
}

export { encode as msgpackEncode, decode as msgpackDecode };

/** metadata with pk1 first, as the decoder requires, whatever the source map's order. */
export function withPk1(metadata: ChallengeMessage['metadata'], pk1: unknown): ChallengeMessage['metadata'] {
  return { pk1, ...('pk2' in metadata ? { pk2: metadata.pk2 } : {}) };
}

/** An acceptResponder that admits only the pinned id. */
export function pinnedTo(pinned: VaultysId): (responder: VaultysId) => PeerDecision<void> {
  return (responder) => (responder.equals(pinned) ? { ok: true, value: undefined } : { ok: false, message: 'not the pinned broker' });
}

/** A fresh responder's verdict on an INIT, checking that the refusal came before any signature. */
export function responderRefusal(init: Uint8Array): HandshakeRejection {
  const identity = identityFrom(2, IdType.Person);
  const signed = countSignatures(identity);
  const responder = startResponder({ responderIdentity: identity });
  const reason = refusalOf(() => responder.accept(init));
  assert.equal(signed.count, 0, 'the responder signed while refusing');
  assert.equal(responder.state, 'error');
  return reason;
}

/**
 * The same Ed25519 key under another 77-byte id: another type byte, or another X25519 key beside it. A
 * comparison of whole ids lets such a twin through as a peer, so a side would sign a session with itself.
 */
export const twinsOf = (id: VaultysId): [string, VaultysId][] => [
  ['another type byte', VaultysId.fromBytes(concatBytes([id.type === IdType.Machine ? IdType.Person : IdType.Machine], id.bytes.subarray(1)))],
  ['another X25519 key', VaultysId.fromBytes(concatBytes(id.bytes.subarray(0, 45), identityFrom(77).id.encryptionKey))],
];
