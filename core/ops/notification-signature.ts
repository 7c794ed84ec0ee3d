import { createHmac, timingSafeEqual } from 'node:crypto';
import { BUDGETS } from '../budgets';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`: what a receiver checks the body against. */
export const NOTIFY_SIGNATURE_HEADER = 'x-vaultysclaw-signature';
/** The same id on every attempt of one notification: a receiver that saw it already acknowledges and drops it. */
export const NOTIFY_DELIVERY_HEADER = 'x-vaultysclaw-delivery';

const hmac = (secret: Buffer | string, timestamp: number, body: Buffer | string) =>
  createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();

/**
 * The signature header for `body` sent at `timestamp` (unix seconds). The timestamp is signed with the exact body
 * bytes, so neither a body nor an old signature can be replayed under a fresh time.
 */
export function signNotification(secret: Buffer | string, body: Buffer | string, timestamp: number): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, body).toString('hex')}`;
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: 'malformed' | 'stale' | 'mismatch' };

/**
 * What a receiver calls on each request, with the raw body bytes as received (not a re-serialised parse):
 * a missing or malformed header, a signature that does not match, or a timestamp further than
 * BUDGETS.notifySignatureAgeMs from `now` (a captured request replayed later) are each refused by name.
 */
export function verifyNotificationSignature(
  secret: Buffer | string,
  body: Buffer | string,
  header: string | string[] | undefined,
  now: number = Date.now(),
): SignatureCheck {
  const at = typeof header === 'string' ? /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header) : null;
  if (!at) return { ok: false, reason: 'malformed' };
  const timestamp = Number(at[1]);
  if (Math.abs(now - timestamp * 1000) > BUDGETS.notifySignatureAgeMs.limit) return { ok: false, reason: 'stale' };
  const expected = hmac(secret, timestamp, body);
  return timingSafeEqual(expected, Buffer.from(at[2]!, 'hex')) ? { ok: true, timestamp } : { ok: false, reason: 'mismatch' };
}
