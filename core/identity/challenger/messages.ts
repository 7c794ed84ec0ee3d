import { z } from 'zod';
import { bytesEqual, canonicalEncode, decodeCanonical, signableProblem } from '../encoding';
import { IdentityError } from '../errors';
import { VaultysId } from '../vaultys-id';
import { reject, type HandshakeResult } from './rejections';

/** Our product speaks Challenger version 1 only (spec §5.10 rule 3). */
export const CHALLENGER_VERSION = 1;
/** An Ed25519 COMPLETE with empty metadata is ~430 B; 64 KiB leaves room for a policy (spec §5.9). */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
/** Spec §5.6: the whole run must finish within L of INIT. */
export const DEFAULT_LIVENESS_MS = 60_000;

export type ChallengeState = 'init' | 'step1' | 'complete';

/** Wire key order per state (spec §5.3); metadata is always last. */
const KEY_ORDER: Record<ChallengeState, readonly string[]> = {
  init: ['version', 'protocol', 'service', 'timestamp', 'pk1', 'nonce', 'metadata'],
  step1: ['version', 'protocol', 'service', 'timestamp', 'pk1', 'pk2', 'nonce', 'sign2', 'metadata'],
  complete: ['version', 'protocol', 'service', 'timestamp', 'pk1', 'pk2', 'nonce', 'sign1', 'sign2', 'metadata'],
};

export interface ChallengeMetadata {
  pk1?: unknown;
  pk2?: unknown;
}

export interface ChallengeMessage {
  state: ChallengeState;
  protocol: string;
  service: string;
  /** Initiator's clock at INIT, in milliseconds. */
  timestamp: number;
  pk1: VaultysId;
  pk2?: VaultysId;
  /** 16 bytes at INIT, 32 from STEP1 on. */
  nonce: Uint8Array;
  sign1?: Uint8Array;
  sign2?: Uint8Array;
  metadata: ChallengeMetadata;
}

const bytes = (length: number) =>
  z.instanceof(Uint8Array).refine((b) => b.length === length, { message: `must be ${length} bytes` });
const name = z.string().min(1).max(64);
const anyBytes = z.instanceof(Uint8Array);

const common = {
  version: z.literal(CHALLENGER_VERSION),
  protocol: name,
  service: name,
  timestamp: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  pk1: anyBytes,
  metadata: z.record(z.string(), z.unknown()),
};

const schemas = {
  init: z.strictObject({ ...common, nonce: bytes(16) }),
  step1: z.strictObject({ ...common, pk2: anyBytes, nonce: bytes(32), sign2: bytes(64) }),
  complete: z.strictObject({ ...common, pk2: anyBytes, nonce: bytes(32), sign1: bytes(64), sign2: bytes(64) }),
};

function stateOf(keys: string[]): ChallengeState | null {
  for (const state of ['init', 'step1', 'complete'] as const) {
    const order = KEY_ORDER[state];
    if (keys.length === order.length && keys.every((k, i) => k === order[i])) return state;
  }
  return null;
}

function parseId(raw: Uint8Array, field: string): HandshakeResult<VaultysId> {
  try {
    return { ok: true, value: VaultysId.fromBytes(raw) };
  } catch (err) {
    if (err instanceof IdentityError && (err.code === 'unsupported-id' || err.code === 'unsupported-version')) {
      return reject('unsupported-id', `${field}: ${err.message}`);
    }
    return reject('bad-id', `${field}: ${(err as Error).message}`);
  }
}

/**
 * The one decoder for Challenger bytes from outside. Order matters: size cap,
 * canonical MessagePack, version, exact key layout, field types, metadata,
 * then strict id parsing. Never throws.
 */
export function decodeChallenge(
  input: unknown,
  maxBytes: number = DEFAULT_MAX_MESSAGE_BYTES,
): HandshakeResult<ChallengeMessage> {
  if (!(input instanceof Uint8Array)) return reject('malformed', 'a challenge must be bytes');
  if (input.length > maxBytes) return reject('oversized', `challenge is ${input.length} bytes, the limit is ${maxBytes}`);
  if (input.length === 0) return reject('truncated', 'challenge is empty');
  const decoded = decodeCanonical(input);
  if (!decoded.ok) {
    if (decoded.reason === 'malformed' && /Insufficient data|outside the bounds/i.test(decoded.message)) {
      return reject('truncated', 'challenge ends before its last field');
    }
    return reject(decoded.reason, decoded.message);
  }
  const raw = decoded.value;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
    return reject('bad-schema', 'a challenge must be a map');
  }
  const record = raw as Record<string, unknown>;
  // Checked before the layout, so that v0 (and a downgrade) gets its own reason.
  if (record.version !== CHALLENGER_VERSION) {
    return reject('unsupported-version', `challenge version ${String(record.version ?? 0)} is not supported; only version 1 is`);
  }
  const meta = record.metadata;
  if (typeof meta !== 'object' || meta === null || Object.getPrototypeOf(meta) !== Object.prototype) {
    return reject('bad-schema', 'metadata must be a map');
  }
  const state = stateOf(Object.keys(record));
  if (!state) return reject('bad-schema', `unexpected fields or field order: ${Object.keys(record).join(',')}`);
  const parsed = schemas[state].safeParse(record);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return reject('bad-schema', `${issue?.path.join('.') || 'challenge'}: ${issue?.message ?? 'invalid'}`);
  }
  const metadata = parsed.data.metadata;
  const metaKeys = Object.keys(metadata);
  if (!metaKeys.every((k) => k === 'pk1' || k === 'pk2') || (metaKeys.length === 2 && metaKeys[0] !== 'pk1')) {
    return reject('bad-metadata', `metadata may hold only pk1 then pk2, got ${metaKeys.join(',')}`);
  }
  const problem = signableProblem(metadata, 'metadata');
  if (problem) return reject('bad-metadata', problem);

  const pk1 = parseId(parsed.data.pk1, 'pk1');
  if (!pk1.ok) return pk1;
  const message: ChallengeMessage = {
    state,
    protocol: parsed.data.protocol,
    service: parsed.data.service,
    timestamp: parsed.data.timestamp,
    pk1: pk1.value,
    nonce: parsed.data.nonce,
    metadata,
  };
  const later: Partial<z.infer<(typeof schemas)['complete']>> = parsed.data;
  if (later.pk2) {
    const pk2 = parseId(later.pk2, 'pk2');
    if (!pk2.ok) return pk2;
    message.pk2 = pk2.value;
    message.sign2 = later.sign2;
  }
  if (later.sign1) message.sign1 = later.sign1;
  return { ok: true, value: message };
}

/** Builds the wire map of a message in its state's fixed key order. */
export function encodeChallenge(m: ChallengeMessage): Uint8Array {
  const out: Record<string, unknown> = {};
  const source: Record<string, unknown> = {
    version: CHALLENGER_VERSION,
    protocol: m.protocol,
    service: m.service,
    timestamp: m.timestamp,
    pk1: m.pk1.bytes,
    pk2: m.pk2?.bytes,
    nonce: m.nonce,
    sign1: m.sign1,
    sign2: m.sign2,
    metadata: m.metadata,
  };
  for (const key of KEY_ORDER[m.state]) {
    if (source[key] === undefined) throw new TypeError(`challenge in state ${m.state} lacks ${key}`);
    out[key] = source[key];
  }
  return canonicalEncode(out);
}

/** U, the bytes both signatures cover (spec §5.4, v1): metadata included, so both sides co-sign both maps. */
export function signedBytes(m: ChallengeMessage): Uint8Array {
  if (!m.pk2) throw new TypeError('nothing is signed before the responder has joined');
  return canonicalEncode({
    version: CHALLENGER_VERSION,
    protocol: m.protocol,
    service: m.service,
    timestamp: m.timestamp,
    pk1: m.pk1.bytes,
    pk2: m.pk2.bytes,
    nonce: m.nonce,
    metadata: m.metadata,
  });
}

/** Spec §5.6: strict on both sides, always against the initiator's INIT timestamp. */
export function isLive(timestamp: number, now: number, livenessMs: number): boolean {
  return now - livenessMs < timestamp && timestamp < now + livenessMs;
}

export function sameMetadataValue(a: unknown, b: unknown): boolean {
  return bytesEqual(canonicalEncode(a), canonicalEncode(b));
}
