/**
 * Limits on what travels are counted in bytes (review finding 4): a bound in characters let 1 000 000 × "é"
 * (2 MB) through a 1 MiB limit. The envelope bound is what every receiver accepts; UTF-8 sizes are computed
 * exactly, whatever mix of 1- to 4-byte characters and lone surrogates a hostile party sends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BUDGETS } from '../../../core/budgets';
import { Did, Envelope, EpochMs, IntentId, utf8ByteLength } from '../../../core/wire/common';
import { WriteFileParams } from '../../../core/wire/tools';
import { fuzzParameters } from '../../fault/support/fuzz-budget';

test('an envelope payload of BUDGETS.envelopePayloadBytes bytes is accepted, one byte more is refused', () => {
  const signature = new Uint8Array(64);
  assert.equal(Envelope.safeParse({ payload: new Uint8Array(BUDGETS.envelopePayloadBytes.limit), signature }).success, true);
  const over = Envelope.safeParse({ payload: new Uint8Array(BUDGETS.envelopePayloadBytes.limit + 1), signature });
  assert.equal(over.success, false);
  assert.match(over.error!.issues[0]!.message, new RegExp(`at most ${BUDGETS.envelopePayloadBytes.limit} bytes`));
});

test('write_file content is bounded in UTF-8 bytes (BUDGETS.writeFileBytes) for 1-, 2-, 3- and 4-byte characters', () => {
  const limit = BUDGETS.writeFileBytes.limit;
  for (const char of ['a', 'é', '€', '😀']) {
    const size = Buffer.byteLength(char);
    const atBound = char.repeat(Math.floor(limit / size)) + 'a'.repeat(limit % size);
    assert.equal(Buffer.byteLength(atBound), limit);
    assert.equal(WriteFileParams.safeParse({ path: 'f', content: atBound, mode: 'create' }).success, true, `${limit} bytes of ${char}`);
    const over = WriteFileParams.safeParse({ path: 'f', content: `${atBound}a`, mode: 'create' });
    assert.equal(over.success, false, `${limit + 1} bytes of ${char}`);
  }
});

test('utf8ByteLength equals the size of the encoded text for any string, lone surrogates included', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => utf8ByteLength(s) === Buffer.byteLength(s, 'utf8')),
    fuzzParameters(2000, 5000),
  );
  fc.assert(
    fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 200 }), (s) => utf8ByteLength(s) === Buffer.byteLength(s, 'utf8')),
    fuzzParameters(2000, 5000),
  );
});

test('Did, IntentId and EpochMs take exactly their wire form', () => {
  assert.ok(Did.safeParse(`did:vaultys:${'0a'.repeat(20)}`).success);
  for (const bad of [`did:vaultys:${'0A'.repeat(20)}`, `did:vaultys:${'0'.repeat(39)}`, `did:vaultys:${'0'.repeat(41)}`, `did:key:${'0'.repeat(40)}`, ` did:vaultys:${'0'.repeat(40)}`]) {
    assert.equal(Did.safeParse(bad).success, false, bad);
  }
  assert.ok(IntentId.safeParse('ab'.repeat(16)).success);
  for (const bad of ['AB'.repeat(16), 'ab'.repeat(15), `${'ab'.repeat(16)}0`]) assert.equal(IntentId.safeParse(bad).success, false, bad);
  for (const ok of [0, Number.MAX_SAFE_INTEGER]) assert.ok(EpochMs.safeParse(ok).success);
  for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, NaN]) assert.equal(EpochMs.safeParse(bad).success, false, String(bad));
});

test('an envelope signature must be bytes; a payload as an array of numbers is not bytes', () => {
  assert.equal(Envelope.safeParse({ payload: new Uint8Array(1), signature: [1, 2] }).success, false);
  assert.equal(Envelope.safeParse({ payload: [1], signature: new Uint8Array(64) }).success, false);
  assert.equal(Envelope.safeParse({ payload: new Uint8Array(1), signature: new Uint8Array(64), extra: 1 }).success, false);
});
