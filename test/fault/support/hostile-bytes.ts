import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';

/** One edit of a valid message: the shapes that reach a decoder when bytes are tampered with or cut. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

function apply(bytes: Uint8Array, e: Edit): Uint8Array {
  if (bytes.length === 0) return e.kind === 'insert' ? e.bytes : bytes;
  const at = e.at % bytes.length;
  const b = Buffer.from(bytes);
  switch (e.kind) {
    case 'flip':
      b[at] = b[at]! ^ (1 << e.bit);
      return new Uint8Array(b);
    case 'set':
      b[at] = e.value;
      return new Uint8Array(b);
    case 'truncate':
      return new Uint8Array(b.subarray(0, at));
    case 'insert':
      return new Uint8Array(Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]));
    case 'delete':
      return new Uint8Array(Buffer.concat([b.subarray(0, at), b.subarray(at + e.length)]));
  }
}

/** Any MessagePack value, including what canonical encoding forbids (floats, ext, deep nesting). */
const anyMsgpack = fc.anything({ maxDepth: 3, withTypedArray: true, withBigInt: false, withDate: true, withNullPrototype: true }).map((v) => {
  try {
    return new Uint8Array(encode(v));
  } catch {
    return new Uint8Array();
  }
});

/**
 * Hostile bytes around some valid samples: random bytes, arbitrary
 * MessagePack, and valid messages with 1–4 edits (which go deepest: they get
 * past the framing and into the schema and signature checks).
 */
export function hostileBytes(valid: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const mutated = fc
    .tuple(fc.constantFrom(...valid), fc.array(edit, { minLength: 1, maxLength: 4 }))
    .map(([bytes, edits]) => edits.reduce(apply, bytes));
  return fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 512 }), weight: 2 },
    { arbitrary: anyMsgpack, weight: 2 },
    { arbitrary: mutated, weight: 6 },
  );
}

/** Arbitrary values where a decoded message has a field: the shapes a schema must refuse. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({ maxDepth: 2, withTypedArray: true }),
  fc.uint8Array({ maxLength: 64 }),
  fc.string({ maxLength: 64 }),
  fc.constantFrom(null, undefined, -1, 2 ** 53, NaN, Infinity, '', '0'.repeat(32), 'did:vaultys:' + '0'.repeat(40), '__proto__'),
);
