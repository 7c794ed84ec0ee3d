/**
 * The approval panel's messages, both directions. The webview imports these
 * types only; the extension checks what the webview sends with a schema
 * (extension/approval/panel-controller.ts) before acting on it. They live in
 * core/ because both sides import them: the extension may not import from
 * webviews/, and the webview (a browser bundle) only from browser-safe core/.
 */

export interface ApprovalParam {
  name: string;
  /** The value in full: strings as they are, anything else as pretty JSON. */
  text: string;
  multiline: boolean;
}

export interface ApprovalPanelState {
  requestId: string;
  intentId: string;
  capability: string;
  /** The command line of a run_command, joined for reading; the params below are what runs. */
  summary: string;
  cwd: string;
  requestedAt: number;
  expiresAt: number;
  state: 'pending' | 'approved' | 'rejected' | 'expired';
  decidedBy: { did: string; name: string } | null;
  decisionReason: string | null;
  decidedAt: number | null;
  agent: { did: string; name: string };
  requester: { did: string; name: string };
  reviewer: { did: string; name: string; role: string };
  params: ApprovalParam[];
  /** A file write: the panel offers a diff of current vs proposed content. */
  canDiff: boolean;
  /** Why this reviewer cannot decide now (not pending, own request, role, disconnected), or null. */
  cannotDecide: string | null;
  connected: boolean;
  busy: boolean;
  error: string | null;
  notice: string | null;
}

export type ExtensionToWebview = { type: 'state'; state: ApprovalPanelState };

export type WebviewToExtension =
  | { type: 'ready' }
  | { type: 'decide'; decision: 'approve' | 'reject'; reason: string }
  | { type: 'openDiff' };

/** What the webview keeps with getState/setState: the reason being typed survives hiding the panel. */
export interface ApprovalWebviewState {
  requestId: string | null;
  reason: string;
  last: ApprovalPanelState | null;
}
