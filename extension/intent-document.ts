import { decodeCanonical, open, VaultysId } from '../core/identity';
import type { IntentDetail } from '../core/rpc/views';
import { visibleJson } from '../core/text/untrusted-text';

const bytesAsBase64 = (_key: string, value: unknown) => (value instanceof Uint8Array ? { base64: Buffer.from(value).toString('base64') } : value);

function envelope(e: { payload: string; signature: string }) {
  return { payload: new Uint8Array(Buffer.from(e.payload, 'base64')), signature: new Uint8Array(Buffer.from(e.signature, 'base64')) };
}

/**
 * What "open an intent" shows: the broker's view, then the signed intent
 * checked here against the broker's own id (the one this session pinned),
 * then the agent's signed result decoded (the broker verified it against the
 * agent's connection key; its base64 is there for anyone to check again).
 */
export function intentDocument(intent: IntentDetail, brokerIdBase64: string | null): string {
  const { signedIntent, signedResult, ...view } = intent;
  let intentPart: Record<string, unknown> | null = null;
  if (signedIntent) {
    const result = brokerIdBase64 ? open(VaultysId.fromBase64(brokerIdBase64), 'vaultysclaw/intent/v1', envelope(signedIntent)) : null;
    intentPart = result?.ok
      ? { verified: 'signature checked here against the pinned broker id', body: result.body }
      : { verified: result ? `NOT VERIFIED: ${result.message}` : 'not checked (broker id unknown)', ...decoded(signedIntent) };
    intentPart.base64 = signedIntent;
  }
  let resultPart: Record<string, unknown> | null = null;
  if (signedResult) {
    resultPart = { verified: "checked by the broker against the agent's connection key", ...decoded(signedResult), base64: signedResult };
  }
  // Params, outputs and messages are others' text: invisible and reordering characters come out as \u escapes.
  return `${visibleJson({ intent: view, signedIntent: intentPart, signedResult: resultPart }, bytesAsBase64)}\n`;
}

function decoded(e: { payload: string; signature: string }): Record<string, unknown> {
  const d = decodeCanonical(envelope(e).payload);
  return d.ok ? { decoded: d.value } : { decoded: null, problem: d.message };
}
