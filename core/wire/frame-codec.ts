import type { z } from 'zod';
import { canonicalEncode, decodeCanonical } from '../identity/encoding';

export type FrameResult<T> = { ok: true; value: T } | { ok: false; code: 'oversized' | 'malformed' | 'bad-schema'; message: string };

/** Decodes one binary frame against a schema. Never throws: bad input is a reason, not a crash. */
export function decodeFrame<S extends z.ZodType>(schema: S, data: unknown, maxBytes: number): FrameResult<z.infer<S>> {
  if (!(data instanceof Uint8Array)) return { ok: false, code: 'malformed', message: 'frames must be binary' };
  if (data.length > maxBytes) return { ok: false, code: 'oversized', message: `frame of ${data.length} bytes exceeds ${maxBytes}` };
  const decoded = decodeCanonical(data);
  if (!decoded.ok) return { ok: false, code: 'malformed', message: decoded.message };
  const parsed = schema.safeParse(decoded.value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, code: 'bad-schema', message: `${issue?.path.join('.') || 'frame'}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, value: parsed.data };
}

export function encodeFrame(frame: Record<string, unknown>): Uint8Array {
  return canonicalEncode(frame);
}
