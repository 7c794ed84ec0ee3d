import { decodeCanonical, IdentityError, open, VaultysId, type SignatureContext } from '../../core/identity';
import type { IntentDetail } from '../../core/rpc/views';
import { visibleJson } from '../../core/text/untrusted-text';
import type { Verdict } from '../../core/webview/result-messages';

type Encoded = { payload: string; signature: string };
type Checked = Pick<IntentDetail, 'id' | 'agent' | 'output' | 'signedIntent' | 'signedResult'>;

/** Whose keys the two signatures are checked against, and what this window already knows for sure. */
export interface SignerIds {
  /** The broker's public id (base64) as broker/info gives it, or null when unknown. */
  brokerId: string | null;
  /** The broker DID this session pinned and proved in its handshake: a broker id that is not this one is refused. */
  pinnedBrokerDid: string | null;
  /** The agent's public id (base64) as agents/get gives it, or null when unknown. */
  agentId: string | null;
}

const bytes = (e: Encoded) => ({ payload: new Uint8Array(Buffer.from(e.payload, 'base64')), signature: new Uint8Array(Buffer.from(e.signature, 'base64')) });

function idOf(base64: string | null, expectedDid: string | null, whose: string): { id: VaultysId } | { problem: string } {
  if (!base64) return { problem: `this window does not know the ${whose}'s public id` };
  let id: VaultysId;
  try {
    id = VaultysId.fromBase64(base64);
  } catch (err) {
    return { problem: `the ${whose}'s public id is malformed (${err instanceof IdentityError ? err.message : 'unreadable'})` };
  }
  // The DID is a hash of the id: an id the broker hands out for a DID must hash to it, or it is someone else's key.
  if (expectedDid && id.did !== expectedDid) return { problem: `the ${whose}'s id given by the broker is ${id.did}, not ${expectedDid}` };
  return { id };
}

function check(envelope: Encoded | null | undefined, signer: { id: VaultysId } | { problem: string }, ctx: SignatureContext, what: string, fits: (body: Record<string, unknown>) => string | null): Verdict {
  if (!envelope) return { holds: false, sentence: `There is no signed ${what} to check.` };
  if ('problem' in signer) return { holds: false, sentence: `The signed ${what} could not be checked: ${signer.problem}.` };
  const opened = open(signer.id, ctx, bytes(envelope));
  if (!opened.ok) return { holds: false, sentence: `The signed ${what} does NOT hold: ${opened.message}.` };
  const body = opened.body;
  if (typeof body !== 'object' || body === null) return { holds: false, sentence: `The signed ${what} does NOT hold: its body is not an object.` };
  const mismatch = fits(body as Record<string, unknown>);
  if (mismatch) return { holds: false, sentence: `The signed ${what} does NOT hold for this intent: ${mismatch}.` };
  return { holds: true, sentence: `The signed ${what} holds: signed by ${signer.id.did} (fingerprint ${signer.id.fingerprint}), checked here, offline.` };
}

/** Key order and byte arrays aside, the same value: the output shown is the output signed. */
function sameValue(a: unknown, b: unknown): boolean {
  const norm = (v: unknown): unknown =>
    v instanceof Uint8Array
      ? Buffer.from(v).toString('base64')
      : Array.isArray(v)
        ? v.map(norm)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, norm((v as Record<string, unknown>)[k])]))
          : v;
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

/**
 * Verify: both signatures checked again here with core/identity, offline. The intent against the broker's id (the
 * one this session pinned), the result against the agent's id (whose DID must be the intent's agent), and each
 * body against the intent shown, so a valid envelope of another intent, or an output the broker altered after the
 * agent signed it, does not pass.
 */
export function verifyEnvelopes(intent: Checked, ids: SignerIds): { intent: Verdict; result: Verdict } {
  return {
    intent: check(intent.signedIntent, idOf(ids.brokerId, ids.pinnedBrokerDid, 'broker'), 'vaultysclaw/intent/v1', 'intent', (body) => {
      if (body.id !== intent.id) return `it is intent ${String(body.id)}`;
      if (body.agent !== intent.agent) return `it names agent ${String(body.agent)}`;
      return null;
    }),
    result: check(intent.signedResult, idOf(ids.agentId, intent.agent, 'agent'), 'vaultysclaw/result/v1', 'result', (body) => {
      if (body.intentId !== intent.id) return `it answers intent ${String(body.intentId)}`;
      if (body.agent !== intent.agent) return `it names agent ${String(body.agent)}`;
      if (!sameValue(body.output ?? null, intent.output ?? null)) return 'the output shown here differs from the output the agent signed';
      return null;
    }),
  };
}

const bytesAsBase64 = (_key: string, value: unknown) => (value instanceof Uint8Array ? { base64: Buffer.from(value).toString('base64') } : value);

function decoded(what: string, envelope: Encoded | null | undefined): Record<string, unknown> {
  if (!envelope) return { [what]: null };
  const d = decodeCanonical(bytes(envelope).payload);
  return { [what]: d.ok ? d.value : { undecodable: d.message }, [`${what}Signature`]: envelope.signature, [`${what}PayloadBase64`]: envelope.payload };
}

/**
 * "Show Signed Envelope": both envelopes decoded into readable JSON ({ctx, body} as signed), each with its
 * signature and payload in base64 for anyone who wants to check them elsewhere. Invisible characters escaped.
 */
export function envelopeDocument(intent: Checked, verification: { intent: Verdict; result: Verdict } | null): string {
  const value = {
    intent: intent.id,
    verified: verification ? { intent: verification.intent.sentence, result: verification.result.sentence } : 'not checked yet: run VaultysClaw: Verify Signed Intent and Result',
    ...decoded('signedIntent', intent.signedIntent),
    ...decoded('signedResult', intent.signedResult),
  };
  return `${visibleJson(value, bytesAsBase64)}\n`;
}
