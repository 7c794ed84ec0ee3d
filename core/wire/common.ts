import { z } from 'zod';
import { BUDGETS } from '../budgets';

export const Did = z.string().regex(/^did:vaultys:[0-9a-f]{40}$/, { message: 'not a VaultysId DID' });
/** A random 128-bit id, hex. */
export const IntentId = z.string().regex(/^[0-9a-f]{32}$/, { message: 'not a 128-bit hex id' });
/** Epoch milliseconds; integers only, so signed bytes re-encode exactly (spec §5.8). */
export const EpochMs = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const Bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'must be bytes' });
export const boundedBytes = (max: number) => Bytes.refine((b) => b.length <= max, { message: `at most ${max} bytes` });

/** A signed object as it travels: the tagged bytes and the signature over them (core/identity seal/open). */
export const Envelope = z.strictObject({ payload: boundedBytes(BUDGETS.envelopePayloadBytes.limit), signature: Bytes });

/**
 * Text bounded by its UTF-8 size, for every limit that is about bytes on the wire or on disk: a bound in
 * characters lets multi-byte text through at up to four times its size (review finding 4).
 */
export const Utf8Text = (maxBytes: number) =>
  z
    .string()
    .max(maxBytes)
    .refine((s) => utf8ByteLength(s) <= maxBytes, { message: `at most ${maxBytes} bytes of UTF-8` });

/**
 * Text a peer gives that the broker stores: no NUL (U+0000). PostgreSQL's TEXT cannot hold it where SQLite's can, so
 * it is refused here, with the peer told why, rather than stored by one backend and failing a write on the other.
 */
export const StoredText = (text: z.ZodString) => text.refine((s) => !s.includes('\u0000'), { message: 'must not contain a NUL character' });

/** The length of `s` encoded as UTF-8 (a lone surrogate counts as U+FFFD, 3 bytes), without encoding it. */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit < 0xdc00 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
