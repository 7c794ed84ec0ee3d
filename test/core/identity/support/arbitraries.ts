// fast-check arbitraries for Challenger property tests: random ids, and metadata values spec §5.8 lets a side sign.
import fc from 'fast-check';
import { IdType, SecretIdentity } from '../../../../core/identity';

const INTEGER_LIKE = /^(0|[1-9][0-9]*)$/;

export const randomIdentity: fc.Arbitrary<SecretIdentity> = fc
  .record({
    type: fc.constantFrom(IdType.Machine, IdType.Person, IdType.Organization),
    entropy: fc.uint8Array({ minLength: 0, maxLength: 64 }),
  })
  .map(({ type, entropy }) => SecretIdentity.fromEntropy(type, entropy));

/** Keys spec §5.8 allows: any well-formed string that JS does not reorder and the decoder does not refuse. */
const mapKey = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((k) => !INTEGER_LIKE.test(k) && k !== '__proto__');

/** Strings short and long, so both of @msgpack/msgpack's UTF-8 code paths (JS loop and TextEncoder) are used. */
const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'grapheme', minLength: 51, maxLength: 120 }));

const leaf = fc.oneof(
  text,
  fc.maxSafeInteger(),
  fc.constantFrom(0, -1, -32, -33, 127, 128, 255, 256, 65535, 65536, 2 ** 32, -(2 ** 31) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  fc.boolean(),
  fc.constant(null),
  fc.uint8Array({ maxLength: 300 }),
);

/** Metadata values that spec §5.8 says can be signed: no floats, undefined, Dates, ext types or integer-like keys. */
export const signable: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 4, depthSize: 'small' },
    leaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(mapKey, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;
