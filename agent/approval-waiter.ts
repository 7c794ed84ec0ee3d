import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type pino from 'pino';
import { open, seal, VaultysId, type SecretIdentity } from '../core/identity';
import { ApprovalCountersignBody, ApprovalDecisionBody, type ApprovalDecisionBundle, type ApprovalRequestBody } from '../core/wire/approval';
import type { AgentFrame } from '../core/wire/hub-messages';
import type { IntentBody, RejectionReason } from '../core/wire/intent';
import type { Capability } from '../core/wire/policy';
import type { CertifiedSession } from './intent-runner';
import { cancelledBy } from './intent-cancel';

/** `reviewers`: the distinct reviewers who approved, in the order their decisions came. */
export type ApprovalOutcome = { ok: true; reviewers: string[] } | { ok: false; reason: RejectionReason; message: string };

/** What the matching rule asks of the reviewers (call-decision.ts quorumOf); nothing: one reviewer, not the requester. */
export type Quorum = Partial<Pick<ApprovalRequestBody, 'reviewers' | 'selfReview' | 'rule'>>;

interface Waiting {
  request: ApprovalRequestBody;
  /** Reviewers whose approval counted, each once. */
  approvers: Set<string>;
  settle: (outcome: ApprovalOutcome) => void;
}

/**
 * Pauses a tool call that needs reviewers (seed control 9, the two-person rule of issue 16): sends a signed
 * request with the full context, then counts only decisions signed by a reviewer, countersigned by the pinned
 * broker over those exact bytes, for this very request, before the timeout carried in the certificate. The call
 * runs once the request's number of distinct reviewers approved; a second decision by one of them counts for
 * nothing, so one person replaying or repeating their approval is still one person. Any single valid rejection
 * ends the wait. The requester is never one of the reviewers, unless the request says the matching rule lets the
 * dispatching user review a model's call (selfReview, set by this agent for a task's tool calls and the call of an
 * intent whose signed `via` says a model dispatched it). Expiry is a
 * rejection.
 */
export class ApprovalWaiter {
  readonly #waiting = new Map<string, Waiting>();

  constructor(
    private readonly identity: SecretIdentity,
    private readonly workspaceRoot: string,
    private readonly log: pino.Logger,
    private readonly now: () => number,
  ) {}

  /**
   * `call` is what the reviewer decides on: the intent's own tool, or a tool an
   * llm_task's model called, with the model's arguments. `abort` (a task's
   * deadline) ends the wait as an expiry, or as a rejection `cancelled` when
   * its reason is the intent's cancel (IntentCancelled).
   */
  request(
    intent: IntentBody,
    call: { capability: Capability; params: Record<string, unknown> },
    session: CertifiedSession,
    send: (frame: AgentFrame) => void,
    abort?: AbortSignal,
    quorum: Quorum = {},
  ): Promise<ApprovalOutcome> {
    const requestedAt = this.now();
    const params = call.params as { cwd?: unknown };
    const request: ApprovalRequestBody = {
      requestId: randomBytes(16).toString('hex'),
      intentId: intent.id,
      agent: this.identity.did,
      user: intent.user,
      capability: call.capability,
      params: call.params,
      cwd: typeof params.cwd === 'string' ? join(this.workspaceRoot, params.cwd) : this.workspaceRoot,
      requestedAt,
      expiresAt: requestedAt + session.policy.approvalTimeoutMs,
      ...quorum,
    };
    return new Promise<ApprovalOutcome>((resolve) => {
      const timer = setTimeout(() => settle({ ok: false, reason: 'approval-expired', message: 'no reviewer decided before the approval timeout' }), session.policy.approvalTimeoutMs);
      const onAbort = () => {
        const cancel = cancelledBy(abort);
        settle(
          cancel
            ? { ok: false, reason: 'cancelled', message: `${cancel.message} while it waited for a reviewer; it did not run` }
            : { ok: false, reason: 'approval-expired', message: 'the task reached its time limit while waiting for the reviewer' },
        );
      };
      const settle = (outcome: ApprovalOutcome) => {
        clearTimeout(timer);
        abort?.removeEventListener('abort', onAbort);
        this.#waiting.delete(request.requestId);
        resolve(outcome);
      };
      if (abort?.aborted) return onAbort();
      abort?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.set(request.requestId, { request, approvers: new Set(), settle });
      this.log.info(
        { event: 'approval.requested', intentId: intent.id, requestId: request.requestId, capability: call.capability, reviewers: request.reviewers ?? 1, selfReview: request.selfReview ?? false },
        'waiting for a reviewer',
      );
      send({ type: 'approval/request', envelope: seal(this.identity, 'vaultysclaw/approval-request/v1', request) });
    });
  }

  /**
   * The connection is gone: the broker ends the intents it carried as lost,
   * so no decision can come for them. Reject rather than leave them hanging.
   */
  abandonAll(): void {
    for (const waiting of [...this.#waiting.values()]) {
      waiting.settle({ ok: false, reason: 'approval-expired', message: 'the connection to the broker was lost while waiting for the reviewer' });
    }
  }

  /**
   * The broker refused to open the requests of `intentId` (past its budget, a time it does not accept): nobody can
   * decide them, so the calls end now, with the broker's words, instead of waiting out the approval timeout.
   */
  refusedFor(intentId: string, code: string, message: string): void {
    for (const waiting of [...this.#waiting.values()]) {
      if (waiting.request.intentId !== intentId) continue;
      this.log.warn({ event: 'approval.request-refused', intentId, requestId: waiting.request.requestId, code, detail: message }, 'the broker refused the approval request');
      waiting.settle({ ok: false, reason: 'approval-required', message: `the broker refused to open its approval request (${code}: ${message}); nobody can review this call, so it did not run` });
    }
  }

  decide(bundle: ApprovalDecisionBundle, session: CertifiedSession): void {
    const verdict = this.#verify(bundle, session);
    if ('refusal' in verdict) {
      this.log.warn({ event: 'approval.refused', detail: verdict.refusal }, 'approval decision refused');
      return;
    }
    const { waiting, decision } = verdict;
    if (decision.decision === 'reject') {
      return waiting.settle({ ok: false, reason: 'approval-rejected', message: `rejected by ${decision.reviewer}${decision.reason ? `: ${decision.reason}` : ''}` });
    }
    waiting.approvers.add(decision.reviewer);
    const required = waiting.request.reviewers ?? 1;
    this.log.info(
      { event: 'approval.counted', requestId: decision.requestId, intentId: decision.intentId, reviewer: decision.reviewer, approvals: waiting.approvers.size, required },
      'a reviewer approved',
    );
    if (waiting.approvers.size >= required) waiting.settle({ ok: true, reviewers: [...waiting.approvers] });
  }

  #verify(bundle: ApprovalDecisionBundle, session: CertifiedSession): { waiting: Waiting; decision: ApprovalDecisionBody } | { refusal: string } {
    const counter = open(session.broker, 'vaultysclaw/approval-countersign/v1', bundle.countersignature);
    if (!counter.ok) return { refusal: `countersignature: ${counter.message}` };
    const countersign = ApprovalCountersignBody.safeParse(counter.body);
    if (!countersign.success) return { refusal: 'countersignature does not match its schema' };
    let reviewer: VaultysId;
    try {
      reviewer = VaultysId.fromBytes(bundle.reviewerId);
    } catch (err) {
      return { refusal: `reviewer id: ${(err as Error).message}` };
    }
    const opened = open(reviewer, 'vaultysclaw/approval-decision/v1', bundle.decision);
    if (!opened.ok) return { refusal: `decision: ${opened.message}` };
    const decision = ApprovalDecisionBody.safeParse(opened.body);
    if (!decision.success) return { refusal: 'decision does not match its schema' };
    const d = decision.data;
    const c = countersign.data;
    if (d.reviewer !== reviewer.did || c.reviewer !== reviewer.did) return { refusal: 'the decision names another reviewer than the key that signed it' };
    if (c.decisionSha256 !== createHash('sha256').update(bundle.decision.payload).digest('hex')) {
      return { refusal: 'the countersignature covers another decision' };
    }
    if (c.requestId !== d.requestId) return { refusal: 'countersignature and decision name different requests' };
    const waiting = this.#waiting.get(d.requestId);
    if (!waiting) return { refusal: `no tool call is waiting for request ${d.requestId}` };
    const r = waiting.request;
    if (d.intentId !== r.intentId || d.agent !== r.agent) return { refusal: 'the decision is for another intent or agent' };
    if (d.reviewer === r.user && r.selfReview !== true) return { refusal: 'a user cannot approve a tool call of their own intent' };
    if (!(this.now() <= r.expiresAt) || !(d.decidedAt <= r.expiresAt)) return { refusal: 'the decision came after the approval timeout' };
    // Counted once: the same reviewer again (a replay, or a second decision) must not stand in for a second person.
    if (waiting.approvers.has(d.reviewer)) return { refusal: `${d.reviewer} already approved request ${d.requestId}; a reviewer counts once` };
    return { waiting, decision: d };
  }
}
