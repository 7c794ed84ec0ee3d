const isContinuation = (byte: number | undefined) => byte !== undefined && (byte & 0xc0) === 0x80;

/** The longest prefix of at most `max` bytes that does not end inside a UTF-8 character. */
export function utf8Boundary(bytes: Uint8Array, max: number): number {
  if (bytes.length <= max) return bytes.length;
  // A character is at most 4 bytes: back off over at most 3 continuation bytes to its lead byte.
  for (let cut = max, steps = 0; steps <= 3 && cut >= 0; cut--, steps++) {
    if (!isContinuation(bytes[cut])) return cut;
  }
  return max;
}

/**
 * Decodes bytes as UTF-8 text whose own UTF-8 encoding fits in `maxBytes`. The second check matters for
 * binary input: each invalid byte decodes to U+FFFD, three bytes once re-encoded, and the text must still
 * fit the signed result it travels in.
 */
export function decodeWithin(bytes: Uint8Array, maxBytes: number): { text: string; truncated: boolean } {
  const cut = utf8Boundary(bytes, maxBytes);
  let text = Buffer.from(bytes.buffer, bytes.byteOffset, cut).toString('utf8');
  let truncated = cut < bytes.length;
  const encoded = Buffer.from(text, 'utf8');
  if (encoded.length > maxBytes) {
    text = encoded.subarray(0, utf8Boundary(encoded, maxBytes)).toString('utf8');
    truncated = true;
  }
  return { text, truncated };
}
