import { z } from 'zod';

export const Did = z.string().regex(/^did:vaultys:[0-9a-f]{40}$/, { message: 'not a VaultysId DID' });
/** A random 128-bit id, hex. */
export const IntentId = z.string().regex(/^[0-9a-f]{32}$/, { message: 'not a 128-bit hex id' });
/** Epoch milliseconds; integers only, so signed bytes re-encode exactly (spec §5.8). */
export const EpochMs = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const Bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'must be bytes' });
export const boundedBytes = (max: number) => Bytes.refine((b) => b.length <= max, { message: `at most ${max} bytes` });

/** A signed object as it travels: the tagged bytes and the signature over them (core/identity seal/open). */
export const Envelope = z.strictObject({ payload: boundedBytes(1536 * 1024), signature: Bytes });
