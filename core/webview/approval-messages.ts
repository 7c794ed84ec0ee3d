import * as z from 'zod/mini';

/**
 * The approval panel's messages, both directions, and what the webview saves: zod schemas both sides parse
 * with. The extension checks what the webview sends before acting on it (extension/approval/panel-controller.ts);
 * the webview checks what it is posted and what getState returns (webviews/approval/main.ts) before rendering.
 * They live in core/ because both sides import them: the extension may not import from webviews/, and the
 * webview (a browser bundle) only from browser-safe core/. zod/mini, imported as a namespace so it tree-shakes:
 * it adds 22 KB to the minified webview (45 → 67 KB), where zod's classic API added 466 KB.
 */

const nullableString = z.nullable(z.string());
const Party = z.strictObject({ did: z.string(), name: z.string() });

export const ApprovalParam = z.strictObject({
  name: z.string(),
  /** The value in full: strings as they are, anything else as pretty JSON. */
  text: z.string(),
  multiline: z.boolean(),
});
export type ApprovalParam = z.infer<typeof ApprovalParam>;

export const ApprovalPanelState = z.strictObject({
  requestId: z.string(),
  intentId: z.string(),
  capability: z.string(),
  /** The command line of a run_command, joined for reading; the params below are what runs. */
  summary: z.string(),
  cwd: z.string(),
  requestedAt: z.number(),
  expiresAt: z.number(),
  state: z.enum(['pending', 'approved', 'rejected', 'expired']),
  decidedBy: z.nullable(Party),
  decisionReason: nullableString,
  decidedAt: z.nullable(z.number()),
  agent: Party,
  requester: Party,
  reviewer: z.extend(Party, { role: z.string() }),
  params: z.array(ApprovalParam),
  /** A file write: the panel offers a diff of current vs proposed content. */
  canDiff: z.boolean(),
  /** Distinct approvals the matching rule requires, and who approved so far (names with fingerprints), in order. */
  quorum: z.strictObject({ required: z.number(), approvedBy: z.array(Party) }),
  /** Which rule asked for the review, in words, or null (an agent before rules, or approvalRequired). */
  rule: nullableString,
  /** A model chose this call (inside an llm_task) and its rule lets the user who dispatched the task review it. */
  selfReview: z.boolean(),
  modelCall: z.boolean(),
  /** The paused intent was dispatched by a model (its signed via), in words: "the editor's AI (vscode-lm)". */
  origin: z.optional(z.string()),
  /**
   * Offered to an admin reviewer only: "approve and allow this exact call on this agent from now on". `call` is the
   * call as the heading shows it, `rule` the exact allow rule it adds in words. Null: not offered.
   */
  allowCall: z.nullable(z.strictObject({ call: z.string(), rule: z.string() })),
  /** Why this reviewer cannot decide now (not pending, own request, already approved, role, disconnected), or null. */
  cannotDecide: nullableString,
  /** Its requester (or an admin) may withdraw it: cancel its intent (intents/cancel), which ends the request. */
  canWithdraw: z.boolean(),
  /** What "local operator" means, when the requester, the reviewer or a decider shown is the broker host's key; else null. */
  localOperator: nullableString,
  /** It ended because its intent was cancelled (withdrawn by its requester or an admin), not by a timeout. */
  withdrawn: z.boolean(),
  connected: z.boolean(),
  busy: z.boolean(),
  error: nullableString,
  notice: nullableString,
});
export type ApprovalPanelState = z.infer<typeof ApprovalPanelState>;

export const ExtensionToWebview = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('state'), state: ApprovalPanelState }),
  /**
   * No live state to show: the broker is not connected yet (final false), or it no longer holds the request (a panel
   * restored after a restart of a reset broker; final true). The panel says so and offers Close instead of waiting.
   */
  z.strictObject({ type: z.literal('unavailable'), requestId: z.string(), message: z.string(), final: z.boolean() }),
]);
export type ExtensionToWebview = z.infer<typeof ExtensionToWebview>;

/** The webview is an edge like any other: what it sends is checked before anything reads it. */
export const WebviewToExtension = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('decide'), decision: z.enum(['approve', 'reject']), reason: z.string().check(z.maxLength(1000)) }),
  z.strictObject({ type: z.literal('openDiff') }),
  /** Approve, then add the exact allow rule for this call (policy/allowCall); the controller offers it to admins only. */
  z.strictObject({ type: z.literal('approveAndAllow'), reason: z.string().check(z.maxLength(1000)) }),
  /** Withdraw the request: cancel its intent; the controller offers it to the requester and admins only. */
  z.strictObject({ type: z.literal('withdraw') }),
    /** The reviewer closes a panel whose request is decided or gone. */
  z.strictObject({ type: z.literal('close') }),
]);
export type WebviewToExtension = z.infer<typeof WebviewToExtension>;

/** What the webview keeps with getState/setState: the reason being typed survives hiding the panel. */
export const ApprovalWebviewState = z.strictObject({
  /** Read by the extension to reopen the panel after a restart: a 128-bit hex id (IntentId), nothing else. */
  requestId: z.nullable(z.string().check(z.regex(/^[0-9a-f]{32}$/))),
  reason: z.string(),
  last: z.nullable(ApprovalPanelState),
});
export type ApprovalWebviewState = z.infer<typeof ApprovalWebviewState>;
