import assert from 'node:assert/strict';

/** Every start index of `needle` in `haystack`. */
export function indexesOf(haystack: Uint8Array, needle: Uint8Array): number[] {
  const found: number[] = [];
  const h = Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  let from = 0;
  for (;;) {
    const at = h.indexOf(needle, from);
    if (at < 0) return found;
    found.push(at);
    from = at + 1;
  }
}

/** The one place `needle` occurs; fails the test if it occurs zero or several times. */
export function uniqueIndexOf(haystack: Uint8Array, needle: Uint8Array | string): number {
  const bytes = typeof needle === 'string' ? new Uint8Array(Buffer.from(needle, 'utf8')) : needle;
  const all = indexesOf(haystack, bytes);
  assert.equal(all.length, 1, `expected exactly one occurrence of ${Buffer.from(bytes).toString('hex')}, found ${all.length}`);
  return all[0]!;
}

/**
 * Another printable byte for `b`: a hex digit becomes another hex digit (so a
 * DID or an id stays well-formed), anything else has its low bit flipped.
 */
export function otherByte(b: number): number {
  const c = String.fromCharCode(b);
  if (/[0-9a-f]/.test(c)) return (c === '0' ? '1' : '0').charCodeAt(0);
  return b ^ 0x01;
}

/** A copy of `bytes` with the byte at `at` replaced (by `otherByte`, or the given value). */
export function withByte(bytes: Uint8Array, at: number, value?: number): Uint8Array {
  assert.ok(at >= 0 && at < bytes.length, `offset ${at} is outside ${bytes.length} bytes`);
  const copy = new Uint8Array(bytes);
  copy[at] = value ?? otherByte(bytes[at]!);
  assert.notEqual(copy[at], bytes[at]);
  return copy;
}

/** A copy with the last byte of the unique occurrence of `text` changed. */
export function flipLastByteOf(bytes: Uint8Array, text: string): Uint8Array {
  const at = uniqueIndexOf(bytes, text);
  return withByte(bytes, at + Buffer.byteLength(text) - 1);
}
