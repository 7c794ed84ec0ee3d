import { canonicalEncode, decodeCanonical, signableProblem } from './encoding';
import type { SecretIdentity, VaultysId } from './vaultys-id';

/**
 * Every signature the product makes, other than the Challenger's own (whose
 * signed bytes carry protocol and service), names its purpose inside the signed
 * bytes. signChallenge's "VAULTYS_SIGN" prefix is shared by every use
 * (spec §4.2), so without this tag an intent signature could be replayed as a
 * result, a delegation or an approval.
 */
export const SIGNATURE_CONTEXTS = [
  'vaultysclaw/intent/v1',
  'vaultysclaw/result/v1',
  'vaultysclaw/progress/v1',
  'vaultysclaw/delegation/v1',
  'vaultysclaw/revocation-list/v1',
  'vaultysclaw/approval-request/v1',
  'vaultysclaw/approval-decision/v1',
  'vaultysclaw/approval-countersign/v1',
  'vaultysclaw/rpc-request/v1',
  'vaultysclaw/audit-checkpoint/v1',
  'vaultysclaw/broker-certificate/v1',
  'vaultysclaw/broker-revocation/v1',
  'vaultysclaw/intent-cancel/v1',
] as const;

export type SignatureContext = (typeof SIGNATURE_CONTEXTS)[number];

/** The exact bytes signed for a tagged body: canonical msgpack of {ctx, body}. */
export function taggedBytes(ctx: SignatureContext, body: Record<string, unknown>): Uint8Array {
  if (!SIGNATURE_CONTEXTS.includes(ctx)) throw new TypeError(`unknown signature context ${String(ctx)}`);
  const problem = signableProblem(body, 'body');
  if (problem) throw new TypeError(`cannot sign: ${problem}`);
  return canonicalEncode({ ctx, body });
}

export function signTagged(signer: SecretIdentity, ctx: SignatureContext, body: Record<string, unknown>): Uint8Array {
  return signer.signChallenge(taggedBytes(ctx, body));
}

/** Never throws: an unsignable body or a bad signature is simply "not verified". */
export function verifyTagged(
  signer: VaultysId,
  ctx: SignatureContext,
  body: Record<string, unknown>,
  signature: Uint8Array,
): boolean {
  let bytes: Uint8Array;
  try {
    bytes = taggedBytes(ctx, body);
  } catch {
    return false;
  }
  return signer.verifyChallenge(bytes, signature);
}

/**
 * A signed object on the wire: the exact tagged bytes and their signature.
 * The receiver verifies these bytes first and only then decodes them, so no
 * re-encoding can make it read something other than what was signed.
 */
export interface SealedEnvelope {
  payload: Uint8Array;
  signature: Uint8Array;
}

export function seal(signer: SecretIdentity, ctx: SignatureContext, body: Record<string, unknown>): SealedEnvelope {
  const payload = taggedBytes(ctx, body);
  return { payload, signature: signer.signChallenge(payload) };
}

export type OpenFailure = 'bad-signature' | 'malformed' | 'wrong-context';
export type OpenResult = { ok: true; body: unknown } | { ok: false; reason: OpenFailure; message: string };

/** Verifies an envelope against the expected signer and context; returns the body, still to be schema-checked. */
/** The body an envelope claims, unverified: only to learn whose key to check it with, or what this broker itself signed. */
export function claimedBody(payload: Uint8Array): unknown {
  const decoded = decodeCanonical(payload);
  return decoded.ok ? (decoded.value as { body?: unknown } | null)?.body : undefined;
}

export function open(signer: VaultysId, ctx: SignatureContext, envelope: SealedEnvelope): OpenResult {
  if (!signer.verifyChallenge(envelope.payload, envelope.signature)) {
    return { ok: false, reason: 'bad-signature', message: `signature does not verify with ${signer.did}` };
  }
  const decoded = decodeCanonical(envelope.payload);
  if (!decoded.ok) return { ok: false, reason: 'malformed', message: decoded.message };
  const value = decoded.value as { ctx?: unknown; body?: unknown } | null;
  if (typeof value !== 'object' || value === null || Object.keys(value).join(',') !== 'ctx,body') {
    return { ok: false, reason: 'malformed', message: 'envelope is not {ctx, body}' };
  }
  if (value.ctx !== ctx) return { ok: false, reason: 'wrong-context', message: `signed for ${String(value.ctx)}, not ${ctx}` };
  return { ok: true, body: value.body };
}
