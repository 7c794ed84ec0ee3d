import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encode, ExtData } from '@msgpack/msgpack';
import { bytesEqual, canonicalEncode, decodeCanonical, signableProblem } from '../../../core/identity/encoding';

const bytes = (...b: number[]) => new Uint8Array(b);
const reason = (r: ReturnType<typeof decodeCanonical>) => (r.ok ? 'ok' : r.reason);

test('canonical bytes decode to their value', () => {
  const value = { a: 1, b: 'text', c: [true, null], d: new Uint8Array([1, 2]) };
  const decoded = decodeCanonical(canonicalEncode(value));
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.value, value);
});

test('a second encoding of the same value is refused as non-canonical: wide integers, duplicate keys, wide string headers', () => {
  assert.equal(reason(decodeCanonical(bytes(0xcc, 0x01))), 'non-canonical', 'uint8 header for 1 (canonical is the fixint 0x01)');
  assert.equal(reason(decodeCanonical(bytes(0xd1, 0x00, 0x05))), 'non-canonical', 'int16 for 5');
  // {a: 1, a: 2}: JS keeps the last, re-encoding gives one key.
  assert.equal(reason(decodeCanonical(bytes(0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02))), 'non-canonical');
  assert.equal(reason(decodeCanonical(bytes(0xd9, 0x01, 0x61))), 'non-canonical', 'str8 header for a one-byte string');
  assert.equal(reason(decodeCanonical(bytes(0x01))), 'ok');
});

test('integer-like keys, which JS reorders, are refused as non-canonical', () => {
  // {"b": 1, "1": 2} in that order: decoded, JS puts "1" first.
  assert.equal(reason(decodeCanonical(bytes(0x82, 0xa1, 0x62, 0x01, 0xa1, 0x31, 0x02))), 'non-canonical');
});

test('invalid UTF-8 (a lone surrogate, which the encoder writes back the same) is refused as non-canonical', () => {
  assert.equal(reason(decodeCanonical(bytes(0xa3, 0xed, 0xa0, 0x80))), 'non-canonical');
  assert.equal(reason(decodeCanonical(bytes(0x81, 0xa3, 0xed, 0xa0, 0x80, 0x01))), 'non-canonical', 'as a key');
});

test('bytes that are no MessagePack value, or more than one, are refused as malformed', () => {
  assert.equal(reason(decodeCanonical(bytes())), 'malformed');
  assert.equal(reason(decodeCanonical(bytes(0xc1))), 'malformed', 'the never-used byte');
  assert.equal(reason(decodeCanonical(bytes(0x92, 0x01))), 'malformed', 'truncated array');
  assert.equal(reason(decodeCanonical(bytes(0x01, 0x02))), 'malformed', 'trailing bytes');
});

test('signableProblem: safe integers, strings, bytes, booleans, null, arrays and plain maps can be signed', () => {
  assert.equal(signableProblem({ n: Number.MAX_SAFE_INTEGER, s: 'é', b: new Uint8Array(1), t: true, z: null, a: [1, { k: 'v' }], o: Object.create(null) }), null);
});

test('signableProblem: names the path and the problem of what cannot be signed', () => {
  const cases: [unknown, RegExp][] = [
    [{ x: 1.5 }, /^\$\.x: only safe integers/],
    [{ x: [0, Number.MAX_SAFE_INTEGER + 1] }, /^\$\.x\[1\]: only safe integers/],
    [{ x: undefined }, /^\$\.x: undefined cannot be signed/],
    [{ '1': 'a' }, /integer-like key "1"/],
    [JSON.parse('{"__proto__": 1}'), /key "__proto__"/],
    [{ s: '\ud800' }, /^\$\.s: string is not well-formed/],
    [{ ['\udc00']: 1 }, /key is not well-formed/],
    [new Date(0), /^\$: object cannot be signed/],
    [new ExtData(1, new Uint8Array()), /^\$: object cannot be signed/],
    [new Map(), /^\$: not a plain map/],
    [10n, /^\$: bigint cannot be signed/],
  ];
  for (const [value, problem] of cases) assert.match(signableProblem(value) ?? 'signable', problem);
});

test('canonicalEncode is what @msgpack/msgpack encode() emits with default options, a copy the size of the bytes', () => {
  const value = { z: 1, a: ['x'], m: { k: new Uint8Array([9]) } };
  const ours = canonicalEncode(value);
  assert.ok(bytesEqual(ours, encode(value)));
  assert.equal(ours.buffer.byteLength, ours.byteLength);
});

test('bytesEqual compares length and content', () => {
  assert.equal(bytesEqual(bytes(1, 2), bytes(1, 2)), true);
  assert.equal(bytesEqual(bytes(1, 2), bytes(1, 3)), false);
  assert.equal(bytesEqual(bytes(1, 2), bytes(1, 2, 0)), false);
  assert.equal(bytesEqual(bytes(), bytes()), true);
});
