import { describeRule, exactAllowRule } from '../../core/policy/rules';
import { ADMINS, DISPATCHERS, REVIEWERS, type Role } from '../../core/rpc/roles';
import { parseIntentCall } from '../../core/wire/task';
import type { ApprovalView } from '../../core/rpc/views';
import { WebviewToExtension, type ApprovalPanelState, type ExtensionToWebview } from '../../core/webview/approval-messages';
import { displayName, visibleText } from '../../core/text/untrusted-text';
import { toolSummary, type Names } from '../model/approvals-tree';
import { localOperatorAmong } from '../model/local-operator';
import type { IntentOrigin } from '../../core/wire/intent-origin';
import { originName } from '../model/origin-words';

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

/** The user who dispatched a task may review the calls its model chose, when the matching rule says so; nobody else their own. */
export function maySelfReview(approval: Pick<ApprovalView, 'selfReview' | 'modelCall'>): boolean {
  return approval.selfReview === true && approval.modelCall;
}

/** Why this reviewer cannot decide this request now, or null when they can. */
export function cannotDecide(approval: ApprovalView, reviewer: Reviewer, connected: boolean, now: number): string | null {
  if (!connected) return 'The broker is disconnected; the decision cannot be sent. Restart the broker and reopen this approval.';
  if (approval.state !== 'pending') return `This request is already ${approval.state}.`;
  if (approval.expiresAt <= now) return 'This request has timed out, which rejects it.';
  // A list's summary cuts long params: nobody approves what they were not shown in full.
  if (approval.paramsTruncated) return 'The request is shown cut, as lists show it; its whole parameters are being read from the broker.';
  // Two-person rule: one person's approval counts once, whatever they send again.
  if (approval.approvals.some((a) => a.reviewer === reviewer.did)) {
    const missing = approval.reviewersRequired - approval.approvals.length;
    return `You already approved this request; it waits for ${missing} more approval${missing === 1 ? '' : 's'} by somebody else.`;
  }
  if (approval.user === reviewer.did && !maySelfReview(approval)) {
    return approval.modelCall
      ? "You started the task whose model chose this call, and its rule does not allow self-review: somebody else has to review it."
      : 'You asked for this tool call: somebody else has to review it.';
  }
  if (!REVIEWERS.includes(reviewer.role)) return `Your role (${reviewer.role}) cannot decide approvals; owners, admins and reviewers can.`;
  return null;
}

/**
 * The reason the broker gives a request whose intent was cancelled (broker/approvals/approval-service.ts
 * onIntentFinal): the request did not time out, it was withdrawn, and every panel of it says so.
 */
const WITHDRAWN_REASON = 'cancelled: its intent ended cancelled';

export function isWithdrawn(approval: Pick<ApprovalView, 'state' | 'reason'>): boolean {
  return approval.state === 'expired' && approval.reason === WITHDRAWN_REASON;
}

/**
 * Who may withdraw a pending request: whoever may cancel its intent (intents/cancel), its requester or an admin, with
 * a role that may still call it. The single user whose own write needs somebody else's review is not left waiting
 * for the timeout. The broker decides again; this only keeps the button from those it would refuse.
 */
export function mayWithdraw(approval: Pick<ApprovalView, 'state' | 'user'>, reviewer: Reviewer, connected: boolean): boolean {
  if (!connected || approval.state !== 'pending' || !DISPATCHERS.includes(reviewer.role)) return false;
  return approval.user === reviewer.did || ADMINS.includes(reviewer.role);
}

/**
 * "Approve and allow this from now on", for an admin who may decide this request: the call as shown and the exact
 * allow rule the broker would add (core/policy/rules.ts exactAllowRule, never a wildcard), or null when not offered.
 */
export function allowCallOffer(approval: ApprovalView, reviewer: Reviewer, refusal: string | null): ApprovalPanelState['allowCall'] {
  if (refusal !== null || !ADMINS.includes(reviewer.role)) return null;
  const call = parseIntentCall(approval);
  const exact = call.ok ? exactAllowRule(call.call) : null;
  if (!exact) return null;
  return { call: toolSummary(approval.capability, approval.params), rule: visibleText(`${exact.capability} ${describeRule(exact.capability, exact.rule)}`) };
}

export function panelState(
  approval: ApprovalView,
  context: { names: Names; reviewer: Reviewer; connected: boolean; busy: boolean; error: string | null; notice: string | null; now: number; via?: IntentOrigin },
): ApprovalPanelState {
  const refusal = cannotDecide(approval, context.reviewer, context.connected, context.now);
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
    quorum: { required: approval.reviewersRequired, approvedBy: approval.approvals.map((a) => ({ did: a.reviewer, name: name(a.reviewer, 'user') })) },
    rule: approval.rule === undefined ? null : visibleText(approval.rule),
    selfReview: maySelfReview(approval),
    modelCall: approval.modelCall,
    ...(context.via ? { origin: originName(context.via) } : {}),
    allowCall: allowCallOffer(approval, context.reviewer, refusal),
    cannotDecide: refusal,
    canWithdraw: mayWithdraw(approval, context.reviewer, context.connected),
    withdrawn: isWithdrawn(approval),
    // Raw names, not the displayed ones (those carry a fingerprint): the requester, this reviewer, who decided or approved.
    localOperator:
      localOperatorAmong([
        context.reviewer.name,
        ...[approval.user, approval.decidedBy, ...approval.approvals.map((a) => a.reviewer)].map((did) => (did ? context.names.user(did)?.name : undefined)),
      ]) ?? null,
    connected: context.connected,
    busy: context.busy,
    error: context.error,
    notice: context.notice,
  };
}

const TITLE_CALL_CHARS = 40;

/** The call as a tab title names it: a path whole (two writes to notes.txt in different folders differ), cut at the front when long; a command line cut at the end. */
export function shortCall(approval: Pick<ApprovalView, 'capability' | 'params'>): string {
  const path = approval.params.path;
  const text = typeof path === 'string' ? visibleText(path) : toolSummary(approval.capability, approval.params);
  if (text.length <= TITLE_CALL_CHARS) return text;
  return typeof path === 'string' ? `…${text.slice(-(TITLE_CALL_CHARS - 1))}` : `${text.slice(0, TITLE_CALL_CHARS - 1)}…`;
}

const DECIDED_TITLE: Record<Exclude<ApprovalView['state'], 'pending'>, string> = { approved: 'Approved', rejected: 'Rejected', expired: 'Expired' };

/** "Approve write_file notes.txt?" while it waits, "Approved: write_file notes.txt" once decided: one tab per request, named by its call. */
export function panelTitle(approval: Pick<ApprovalView, 'capability' | 'params' | 'state' | 'reason'>): string {
  const call = `${approval.capability} ${shortCall(approval)}`;
  if (approval.state === 'pending') return `Approve ${call}?`;
  return `${isWithdrawn(approval) ? 'Withdrawn' : DECIDED_TITLE[approval.state]}: ${call}`;
}

export const UNAVAILABLE_TITLE = 'Approval request unavailable';
export const WAITING_TITLE = 'Approval: waiting for the broker';

export interface PanelHost {
  post(message: ExtensionToWebview): void;
  /** The approval as the broker last told it, or undefined when disconnected/unknown. */
  approval(): ApprovalView | undefined;
  names: Names;
  /** The signed via of the intent a request pauses, as this session knows the intent (a model dispatched it). */
  origin?(intentId: string): IntentOrigin | undefined;
  reviewer(): Reviewer | undefined;
  connected(): boolean;
  /** Signs and sends the decision; resolves with the broker's updated view. */
  decide(approval: ApprovalView, decision: 'approve' | 'reject', reason: string): Promise<ApprovalView>;
  /** intents/cancel of the request's intent: the broker ends it cancelled and the request with it, and tells its agent. */
  withdraw(approval: ApprovalView): Promise<void>;
  /** policy/allowCall: adds the exact allow rule for this request's call to its agent's policy; resolves with the rule in words (describeRule). */
  allowCall(approval: ApprovalView): Promise<string>;
  openDiff(approval: ApprovalView): Promise<string | null>;
  /**
   * approvals/get: the request as the broker holds it now (noted in the model), or null when the broker has no such
   * request. For a panel whose request the model does not list: one restored after a restart, or decided since.
   */
  lookup(requestId: string): Promise<ApprovalView | null>;
  setTitle(title: string): void;
  close(): void;
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
  /** Set once a lookup found no such request, or failed: said in the panel, not asked again until the broker reconnects. */
  #unavailable: string | null = null;
  #lookup: 'none' | 'running' | 'done' = 'none';

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
      case 'decide':
        await this.#decide(message.decision, message.reason, false);
        return;
      case 'approveAndAllow':
        await this.#decide('approve', message.reason, true);
        return;
      case 'withdraw':
        await this.#withdraw();
        return;
      case 'close':
        this.host.close();
        return;
    }
  }

  /** Cancels the request's intent, re-checked here: the webview is not trusted to have hidden the button. */
  async #withdraw(): Promise<void> {
    const approval = this.#current();
    const reviewer = this.host.reviewer();
    if (!approval || !reviewer || this.#busy) return;
    if (!mayWithdraw(approval, reviewer, this.host.connected())) {
      this.#error = approval.state !== 'pending' ? `This request is already ${approval.state}; there is nothing to withdraw.` : 'Only the user who asked for this call, or an admin, may withdraw it.';
      this.refresh();
      return;
    }
    await this.#busyWhile(async () => {
      try {
        await this.host.withdraw(approval);
        this.#notice = 'You withdrew this request: its intent was cancelled, so the call never runs, and its agent was told to drop it.';
      } catch (err) {
        this.#error = `The request was not withdrawn: ${(err as Error).message}`;
      }
    });
  }

  /** One action at a time: the panel shows it busy while `work` runs (which sets the notice or the error). */
  async #busyWhile(work: () => Promise<void>): Promise<void> {
    this.#busy = true;
    this.#error = null;
    this.refresh();
    try {
      await work();
    } finally {
      this.#busy = false;
      this.refresh();
    }
  }

  /** Signs and sends a decision; with `allow`, then adds the exact allow rule (re-checked here: admins only). */
  async #decide(decision: 'approve' | 'reject', reason: string, allow: boolean): Promise<void> {
    const approval = this.#current();
    const reviewer = this.host.reviewer();
    if (!approval || !reviewer || this.#busy) return;
    const refusal = cannotDecide(approval, reviewer, this.host.connected(), this.host.now());
    // The webview is not trusted to have hidden the option: a message it should not have sent is refused here.
    const offer = allow ? allowCallOffer(approval, reviewer, refusal) : null;
    if (refusal || (allow && !offer)) {
      this.#error = refusal ?? 'Approve and allow is offered to admins only, for a call that can be named exactly.';
      this.refresh();
      return;
    }
    await this.#busyWhile(async () => {
      try {
        const view = await this.host.decide(approval, decision, reason);
        this.#last = view;
        const missing = view.state === 'pending' ? view.reviewersRequired - view.approvals.length : 0;
        this.#notice =
          `You ${decision === 'approve' ? 'approved' : 'rejected'} this tool call; the decision was signed with your key.` +
          (missing > 0 ? ` It waits for ${missing} more approval${missing === 1 ? '' : 's'} by somebody else.` : '');
      } catch (err) {
        this.#error = `The decision was not accepted: ${(err as Error).message}`;
      }
      if (offer && !this.#error) {
        try {
          const rule = await this.host.allowCall(approval);
          // The broker answers with the rule in words ('allow ["git","status"]'); its capability says where it went.
          this.#notice = `You approved this tool call (signed with your key), and the agent's policy now allows it from now on: ${approval.capability} ${visibleText(rule)}, first of its rules.`;
        } catch (err) {
          this.#error = `The call was approved, but the allow rule was not added: ${(err as Error).message}`;
        }
      }
    });
  }

  /** Names the tab after the request and posts the current state, if the webview is ready for it. */
  refresh(): void {
    const approval = this.#current();
    if (!approval) {
      this.#unknown();
      return;
    }
    this.host.setTitle(panelTitle(approval));
    const reviewer = this.host.reviewer();
    if (!this.#ready || !reviewer) return;
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
        via: this.host.origin?.(approval.intentId),
      }),
    });
  }

  /**
   * A request the model does not hold, nor this panel saw (a panel restored after a restart): asked of the broker once
   * per connection; a request it does not hold, or an answer that does not come, is said in the panel with Close,
   * never "waiting" for ever.
   */
  #unknown(): void {
    if (!this.host.connected()) {
      this.#lookup = 'none';
      this.#unavailable = null;
      this.host.setTitle(WAITING_TITLE);
      this.#postUnavailable('VaultysClaw is not connected to a broker, so the live state of this request is unknown. It shows here once the broker is back; you may close this panel meanwhile.', false);
      return;
    }
    if (this.#lookup === 'none') {
      this.#lookup = 'running';
      void this.host.lookup(this.requestId).then(
        (view) => {
          if (view) this.#last = view;
          else this.#unavailable = 'The broker no longer holds this approval request (its data was reset, or this panel was left from another broker). Nothing waits for a decision here.';
        },
        (err: unknown) => {
          this.#unavailable = `The broker did not answer for this request: ${(err as Error).message}. Nothing can be decided from this panel now.`;
        },
      ).finally(() => {
        this.#lookup = 'done';
        this.refresh();
      });
    }
    if (this.#unavailable) {
      this.host.setTitle(UNAVAILABLE_TITLE);
      this.#postUnavailable(this.#unavailable, true);
    }
  }

  #postUnavailable(message: string, final: boolean): void {
    if (this.#ready) this.host.post({ type: 'unavailable', requestId: this.requestId, message, final });
  }

  /** The freshest view: the broker's (live) or, when disconnected, the last one seen, shown as disconnected. */
  #current(): ApprovalView | undefined {
    const live = this.host.approval();
    if (live) this.#last = live;
    return this.#last;
  }
}
