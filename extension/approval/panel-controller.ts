import { REVIEWERS, type Role } from '../../core/rpc/roles';
import type { ApprovalView } from '../../core/rpc/views';
import { WebviewToExtension, type ApprovalPanelState, type ExtensionToWebview } from '../../core/webview/approval-messages';
import { displayName, visibleText } from '../../core/text/untrusted-text';
import { toolSummary, type Names } from '../model/approvals-tree';

export function parseWebviewMessage(raw: unknown): { ok: true; message: WebviewToExtension } | { ok: false; problem: string } {
  const parsed = WebviewToExtension.safeParse(raw);
  if (parsed.success) return { ok: true, message: parsed.data };
  return { ok: false, problem: parsed.error.issues[0]?.message ?? 'invalid message' };
}

export function paramsForDisplay(params: Record<string, unknown>): ApprovalPanelState['params'] {
  return Object.entries(params).map(([name, value]) => {
    const text = visibleText(typeof value === 'string' ? value : JSON.stringify(value, null, 2), { lineBreaks: true });
    return { name: visibleText(name), text, multiline: text.includes('\n') || text.length > 80 };
  });
}

export interface Reviewer {
  did: string;
  name: string;
  role: Role;
}

/** Why this reviewer cannot decide this request now, or null when they can. */
export function cannotDecide(approval: ApprovalView, reviewer: Reviewer, connected: boolean, now: number): string | null {
  if (!connected) return 'The broker is disconnected; the decision cannot be sent. Restart the broker and reopen this approval.';
  if (approval.state !== 'pending') return `This request is already ${approval.state}.`;
  if (approval.expiresAt <= now) return 'This request has timed out, which rejects it.';
  // A list's summary cuts long params: nobody approves what they were not shown in full.
  if (approval.paramsTruncated) return 'The request is shown cut, as lists show it; its whole parameters are being read from the broker.';
  if (approval.user === reviewer.did) return 'You asked for this tool call: somebody else has to review it.';
  if (!REVIEWERS.includes(reviewer.role)) return `Your role (${reviewer.role}) cannot decide approvals; owners, admins and reviewers can.`;
  return null;
}

export function panelState(
  approval: ApprovalView,
  context: { names: Names; reviewer: Reviewer; connected: boolean; busy: boolean; error: string | null; notice: string | null; now: number },
): ApprovalPanelState {
  // A decision depends on these names: each is shown with its fingerprint, invisible characters made visible.
  const name = (did: string, kind: 'agent' | 'user') => {
    const known = kind === 'agent' ? context.names.agent(did)?.name : context.names.user(did)?.name;
    return known === undefined ? did : displayName(known, did);
  };
  return {
    requestId: approval.requestId,
    intentId: approval.intentId,
    capability: approval.capability,
    summary: toolSummary(approval.capability, approval.params),
    cwd: visibleText(approval.cwd),
    requestedAt: approval.requestedAt,
    expiresAt: approval.expiresAt,
    state: approval.state,
    decidedBy: approval.decidedBy ? { did: approval.decidedBy, name: name(approval.decidedBy, 'user') } : null,
    decisionReason: approval.reason === null ? null : visibleText(approval.reason),
    decidedAt: approval.decidedAt,
    agent: { did: approval.agent, name: name(approval.agent, 'agent') },
    requester: { did: approval.user, name: name(approval.user, 'user') },
    reviewer: { did: context.reviewer.did, name: context.reviewer.name, role: context.reviewer.role },
    params: paramsForDisplay(approval.params),
    canDiff: approval.capability === 'write_file' && typeof approval.params.path === 'string' && typeof approval.params.content === 'string',
    cannotDecide: cannotDecide(approval, context.reviewer, context.connected, context.now),
    connected: context.connected,
    busy: context.busy,
    error: context.error,
    notice: context.notice,
  };
}

export interface PanelHost {
  post(message: ExtensionToWebview): void;
  /** The approval as the broker last told it, or undefined when disconnected/unknown. */
  approval(): ApprovalView | undefined;
  names: Names;
  reviewer(): Reviewer | undefined;
  connected(): boolean;
  /** Signs and sends the decision; resolves with the broker's updated view. */
  decide(approval: ApprovalView, decision: 'approve' | 'reject', reason: string): Promise<ApprovalView>;
  openDiff(approval: ApprovalView): Promise<string | null>;
  report(message: string): void;
  now(): number;
}

/**
 * One approval panel's logic, without the editor API: it posts nothing until
 * the webview says `ready` (a webview that reloads says it again and gets the
 * state again), checks each message, and decides through the host.
 */
export class ApprovalPanelController {
  #ready = false;
  #busy = false;
  #error: string | null = null;
  #notice: string | null = null;
  #last: ApprovalView | undefined;

  constructor(
    readonly requestId: string,
    private readonly host: PanelHost,
  ) {}

  get ready(): boolean {
    return this.#ready;
  }

  /** The webview went away (panel hidden without retained context): wait for its next `ready`. */
  webviewReset(): void {
    this.#ready = false;
  }

  async receive(raw: unknown): Promise<void> {
    const parsed = parseWebviewMessage(raw);
    if (!parsed.ok) {
      this.host.report(`approval panel sent an invalid message (${parsed.problem}); ignored`);
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case 'ready':
        this.#ready = true;
        this.refresh();
        return;
      case 'openDiff': {
        const approval = this.#current();
        if (!approval) return;
        try {
          this.#notice = await this.host.openDiff(approval);
        } catch (err) {
          this.#error = `Could not open the diff: ${(err as Error).message}`;
        }
        this.refresh();
        return;
      }
      case 'decide': {
        const approval = this.#current();
        const reviewer = this.host.reviewer();
        if (!approval || !reviewer || this.#busy) return;
        const refusal = cannotDecide(approval, reviewer, this.host.connected(), this.host.now());
        if (refusal) {
          this.#error = refusal;
          this.refresh();
          return;
        }
        this.#busy = true;
        this.#error = null;
        this.refresh();
        try {
          this.#last = await this.host.decide(approval, message.decision, message.reason);
          this.#notice = `You ${message.decision === 'approve' ? 'approved' : 'rejected'} this tool call; the decision was signed with your key.`;
        } catch (err) {
          this.#error = `The decision was not accepted: ${(err as Error).message}`;
        } finally {
          this.#busy = false;
        }
        this.refresh();
        return;
      }
    }
  }

  /** Posts the current state, if the webview is ready for it. */
  refresh(): void {
    if (!this.#ready) return;
    const approval = this.#current();
    const reviewer = this.host.reviewer();
    if (!approval || !reviewer) return;
    this.host.post({
      type: 'state',
      state: panelState(approval, {
        names: this.host.names,
        reviewer,
        connected: this.host.connected(),
        busy: this.#busy,
        error: this.#error,
        notice: this.#notice,
        now: this.host.now(),
      }),
    });
  }

  /** The freshest view: the broker's (live) or, when disconnected, the last one seen, shown as disconnected. */
  #current(): ApprovalView | undefined {
    const live = this.host.approval();
    if (live) this.#last = live;
    return this.#last;
  }
}
