import { Decoder, Encoder, ExtData } from '@msgpack/msgpack';

/** One encoder and one decoder for the process, with default options (their output is the canonical form); both are re-entrant. */
const encoder = new Encoder();
const decoder = new Decoder();

/**
 * Canonical MessagePack, as defined by vaultysid-spec.md §1: exactly what
 * `@msgpack/msgpack` 3.x `encode()` emits with default options. Signatures are
 * checked over re-encoded structures, so this encoder's output is protocol.
 */
export function canonicalEncode(value: unknown): Uint8Array {
  // A copy of exactly the encoded bytes: encode() would return a view into a fresh 2 KiB buffer, which every kept payload would hold.
  return encoder.encode(value);
}

export type DecodeFailure = 'malformed' | 'non-canonical';

export type DecodeResult =
  | { ok: true; value: unknown }
  | { ok: false; reason: DecodeFailure; message: string };

/**
 * Decodes bytes and accepts them only if they are their own canonical
 * re-encoding (spec §5.8): a peer cannot smuggle a second reading of the same
 * signed structure (duplicate keys, wide integers, integer-like keys that JS
 * reorders, invalid UTF-8) past a verifier that re-encodes.
 */
export function decodeCanonical(bytes: Uint8Array): DecodeResult {
  let value: unknown;
  try {
    value = decoder.decode(bytes);
  } catch (err) {
    return { ok: false, reason: 'malformed', message: `not a MessagePack value: ${(err as Error).message}` };
  }
  let again: Uint8Array;
  try {
    // Compared at once and dropped: a view into the shared encoder's buffer is enough.
    again = encoder.encodeSharedRef(value);
  } catch (err) {
    return { ok: false, reason: 'non-canonical', message: `cannot re-encode: ${(err as Error).message}` };
  }
  if (!bytesEqual(again, bytes)) {
    return { ok: false, reason: 'non-canonical', message: 'bytes differ from their canonical re-encoding' };
  }
  // The encoder writes a lone surrogate back as the same invalid bytes, so the round trip alone cannot catch it.
  if (!wellFormedStrings(value)) return { ok: false, reason: 'non-canonical', message: 'a string is not valid UTF-8' };
  return { ok: true, value };
}

function wellFormedStrings(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (Array.isArray(value)) return value.every(wellFormedStrings);
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) {
    return Object.entries(value).every(([k, v]) => k.isWellFormed() && wellFormedStrings(v));
  }
  return true;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

const INTEGER_LIKE_KEY = /^(0|[1-9][0-9]*)$/;

/**
 * Why a value cannot be part of signed bytes, or null if it can. Spec §5.8:
 * safe integers only, no floats, no undefined, no Date or ext types, no
 * integer-like keys (JS reorders them, so the bytes would not survive a
 * decode/encode round trip).
 */
export function signableProblem(value: unknown, path = '$'): string | null {
  if (value === null || typeof value === 'boolean') return null;
  // A lone surrogate would be encoded as U+FFFD for long strings: one signature would then vouch for two bodies.
  if (typeof value === 'string') return value.isWellFormed() ? null : `${path}: string is not well-formed Unicode`;
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) ? null : `${path}: only safe integers may be signed`;
  }
  if (value instanceof Uint8Array) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = signableProblem(value[i], `${path}[${i}]`);
      if (p) return p;
    }
    return null;
  }
  if (typeof value === 'object' && !(value instanceof ExtData) && !(value instanceof Date)) {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return `${path}: not a plain map`;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (INTEGER_LIKE_KEY.test(k)) return `${path}: integer-like key "${k}" would be reordered`;
      if (k === '__proto__') return `${path}: key "__proto__" cannot be decoded`;
      if (!k.isWellFormed()) return `${path}: key is not well-formed Unicode`;
      const p = signableProblem(v, `${path}.${k}`);
      if (p) return p;
    }
    return null;
  }
  return `${path}: ${value === undefined ? 'undefined' : typeof value} cannot be signed`;
}
