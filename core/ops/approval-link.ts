import { BUDGETS } from '../budgets';
import { IntentId } from '../wire/common';

/** The extension's id (publisher.name in package.json): VS Code routes vscode://<this>/… to its URI handler. */
export const EXTENSION_ID = 'vaultysclaw.vaultysclaw';
const APPROVAL_PATH = '/approval';

/**
 * The deep link a notification carries to one approval request: opening it in VS Code shows that request's
 * approval panel. It decides nothing: the decision stays signed by the reviewer's key in the editor.
 */
export function approvalLink(requestId: string, scheme = 'vscode'): string {
  return `${scheme}://${EXTENSION_ID}${APPROVAL_PATH}?id=${encodeURIComponent(requestId)}`;
}

export type ApprovalLinkReading = { ok: true; requestId: string } | { ok: false; reason: string };

/**
 * Reads a link VS Code handed the extension's URI handler. Any web page or message can open such a link,
 * so it is refused unless it is exactly an approval link with one well-formed id; the reason is for the user,
 * never the link echoed back (it is whatever the page chose).
 */
export function parseApprovalLink(link: { path: string; query: string }): ApprovalLinkReading {
  if (Buffer.byteLength(link.path, 'utf8') + Buffer.byteLength(link.query, 'utf8') > BUDGETS.deepLinkBytes.limit) {
    return { ok: false, reason: 'the link is too long to be a VaultysClaw approval link' };
  }
  if (link.path !== APPROVAL_PATH) return { ok: false, reason: 'VaultysClaw only opens approval links (…/approval?id=…)' };
  const params = new URLSearchParams(link.query);
  const ids = params.getAll('id');
  if (ids.length !== 1 || [...params.keys()].some((key) => key !== 'id')) return { ok: false, reason: 'an approval link carries exactly one id and nothing else' };
  const id = IntentId.safeParse(ids[0]);
  return id.success ? { ok: true, requestId: id.data } : { ok: false, reason: 'the approval id in the link is not well formed' };
}
