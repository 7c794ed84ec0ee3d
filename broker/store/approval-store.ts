import type { SealedEnvelope } from '../../core/identity';
import type { ApprovalView } from '../../core/rpc/views';
import type { ApprovalRequestBody } from '../../core/wire/approval';
import type { BrokerDatabase } from './database';
import { readPage, type Keyed } from './keyset-page';
import type { Page, PageRequest } from '../../core/rpc/pages';
import { readSummary, SUMMARY_COLUMNS_SQL, summaryColumns, type SummaryColumns } from './summary-params';

interface ApprovalRow {
  request_id: string;
  intent_id: string;
  agent_did: string;
  user_did: string;
  capability: string;
  params: string;
  cwd: string;
  requested_at: number;
  expires_at: number;
  state: ApprovalView['state'];
  decided_by: string | null;
  reason: string | null;
  decided_at: number | null;
  reviewers: number | null;
  self_review: number;
  model_call: number;
  rule: string | null;
}

/** The approvals a request has had, in the order they came. */
type Approvals = ApprovalView['approvals'];

const toView = (r: ApprovalRow, approvals: Approvals): ApprovalView => ({
  requestId: r.request_id,
  intentId: r.intent_id,
  agent: r.agent_did,
  user: r.user_did,
  capability: r.capability as ApprovalView['capability'],
  params: JSON.parse(r.params) as Record<string, unknown>,
  cwd: r.cwd,
  requestedAt: r.requested_at,
  expiresAt: r.expires_at,
  state: r.state,
  decidedBy: r.decided_by,
  reason: r.reason,
  decidedAt: r.decided_at,
  paramsTruncated: false,
  // What the agent's request said, given back as it said it (absent when it did not).
  ...(r.reviewers === null ? {} : { reviewers: r.reviewers }),
  ...(r.self_review ? { selfReview: true } : {}),
  ...(r.rule === null ? {} : { rule: r.rule }),
  reviewersRequired: r.reviewers ?? 1,
  approvals,
  modelCall: r.model_call === 1,
});

/** A list reads the summary of the params written beside them, never the params. */
const SUMMARY_COLUMNS = `request_id, intent_id, agent_did, user_did, capability, cwd, requested_at, expires_at, state, decided_by, reason, decided_at,
  reviewers, self_review, model_call, rule, ${SUMMARY_COLUMNS_SQL}`;

interface SummaryRow extends Omit<ApprovalRow, 'params'>, SummaryColumns, Keyed {}

/** One reviewer's signed decision on a request, countersigned by the broker. */
export interface ReviewerDecision {
  reviewer: string;
  decision: 'approve' | 'reject';
  reason: string | null;
  /** The requester approving a call their task's model chose (a rule's selfReview "model-calls"). */
  selfReview: boolean;
  decidedAt: number;
  envelope: SealedEnvelope;
  countersignature: SealedEnvelope;
}

export type DecisionOutcome =
  | { ok: true; view: ApprovalView }
  | { ok: false; why: 'not-pending' | 'same-reviewer' };

const envelopeColumns = (d: Pick<ReviewerDecision, 'envelope' | 'countersignature'>) => ({
  decisionPayload: Buffer.from(d.envelope.payload),
  decisionSignature: Buffer.from(d.envelope.signature),
  counterPayload: Buffer.from(d.countersignature.payload),
  counterSignature: Buffer.from(d.countersignature.signature),
});

/** Tool approval requests and decisions, persisted so a broker restart loses none. */
export class ApprovalStore {
  readonly #insert;
  readonly #get;
  readonly #pageAll;
  readonly #pageState;
  readonly #decide;
  readonly #expire;
  readonly #due;
  readonly #cancel;
  readonly #pendingFor;
  readonly #countFor;
  readonly #approvals;
  readonly #addDecision;
  readonly #record;

  constructor(db: BrokerDatabase) {
    this.#insert = db.prepare(
      `INSERT INTO approvals (request_id, intent_id, agent_did, user_did, capability, params, params_summary, params_truncated, cwd, requested_at, expires_at,
         state, request_payload, request_signature, reviewers, self_review, model_call, rule)
       VALUES (@requestId, @intentId, @agent, @user, @capability, @params, @paramsSummary, @paramsTruncated, @cwd, @requestedAt, @expiresAt,
         'pending', @payload, @signature, @reviewers, @selfReview, @modelCall, @rule)`,
    );
    this.#get = db.prepare<[string], ApprovalRow>('SELECT * FROM approvals WHERE request_id = ?');
    const page = (where: string) =>
      db.prepare<[Record<string, unknown>], SummaryRow>(
        `SELECT ${SUMMARY_COLUMNS}, requested_at AS page_key, rowid AS page_rowid FROM approvals
         WHERE ${where} (requested_at, rowid) < (@key, @rowid) ORDER BY requested_at DESC, rowid DESC LIMIT @limit`,
      );
    this.#pageAll = page('');
    this.#pageState = page('state = @state AND');
    this.#approvals = db.prepare<[string], { reviewer: string; decided_at: number; self_review: number }>(
      `SELECT reviewer, decided_at, self_review FROM approval_decisions WHERE request_id = ? AND decision = 'approve' ORDER BY rowid`,
    );
    // One row per reviewer and request: the key refuses the same reviewer twice, whatever they signed.
    this.#addDecision = db.prepare(
      `INSERT INTO approval_decisions (request_id, reviewer, decision, self_review, decided_at, decision_payload, decision_signature, countersign_payload, countersign_signature)
       VALUES (@requestId, @reviewer, @decision, @selfReview, @decidedAt, @decisionPayload, @decisionSignature, @counterPayload, @counterSignature)
       ON CONFLICT (request_id, reviewer) DO NOTHING`,
    );
    // Only a pending request can be decided: the WHERE clause makes a second decision a no-op.
    this.#decide = db.prepare(
      `UPDATE approvals SET state = @state, decided_by = @reviewer, reason = @reason, decided_at = @decidedAt,
         decision_payload = @decisionPayload, decision_signature = @decisionSignature,
         countersign_payload = @counterPayload, countersign_signature = @counterSignature
       WHERE request_id = @requestId AND state = 'pending'`,
    );
    this.#expire = db.prepare(`UPDATE approvals SET state = 'expired' WHERE request_id = ? AND state = 'pending'`);
    this.#due = db.prepare<[number], { request_id: string }>(`SELECT request_id FROM approvals WHERE state = 'pending' AND expires_at <= ?`);
    this.#cancel = db.prepare(`UPDATE approvals SET state = 'expired', reason = @reason, decided_at = @now WHERE request_id = @requestId AND state = 'pending'`);
    this.#pendingFor = db.prepare<[string], { request_id: string }>(`SELECT request_id FROM approvals WHERE intent_id = ? AND state = 'pending'`);
    this.#countFor = db.prepare<[string], { n: number }>(`SELECT COUNT(*) AS n FROM approvals WHERE intent_id = ?`);
    this.#record = db.transaction((requestId: string, d: ReviewerDecision): DecisionOutcome => {
      const before = this.get(requestId);
      if (before?.state !== 'pending') return { ok: false, why: 'not-pending' };
      const inserted = this.#addDecision.run({
        requestId,
        reviewer: d.reviewer,
        decision: d.decision,
        selfReview: d.selfReview ? 1 : 0,
        decidedAt: d.decidedAt,
        ...envelopeColumns(d),
      });
      if (inserted.changes !== 1) return { ok: false, why: 'same-reviewer' };
      // Any one rejection ends the request; approvals end it once there are as many as it requires.
      const approvals = before.approvals.length + (d.decision === 'approve' ? 1 : 0);
      const state = d.decision === 'reject' ? 'rejected' : approvals >= before.reviewersRequired ? 'approved' : undefined;
      if (state) {
        this.#decide.run({ requestId, state, reviewer: d.reviewer, reason: d.reason, decidedAt: d.decidedAt, ...envelopeColumns(d) });
      }
      return { ok: true, view: this.get(requestId)! };
    });
  }

  /** `modelCall`: the broker's own intent record says a task's model chose this call (never the agent's word). */
  add(request: ApprovalRequestBody, envelope: SealedEnvelope, modelCall: boolean): ApprovalView {
    this.#insert.run({
      ...request,
      reviewers: request.reviewers ?? null,
      selfReview: request.selfReview ? 1 : 0,
      modelCall: modelCall ? 1 : 0,
      rule: request.rule ?? null,
      params: JSON.stringify(request.params),
      ...summaryColumns(request.params),
      payload: Buffer.from(envelope.payload),
      signature: Buffer.from(envelope.signature),
    });
    return this.get(request.requestId)!;
  }

  get(requestId: string): ApprovalView | undefined {
    const row = this.#get.get(requestId);
    return row ? toView(row, this.#approvalsOf(requestId)) : undefined;
  }

  #approvalsOf(requestId: string): Approvals {
    return this.#approvals.all(requestId).map((a) => ({ reviewer: a.reviewer, decidedAt: a.decided_at, selfReview: a.self_review === 1 }));
  }

  /** One page of requests, newest first, with their params summarized: never more rows read than the page holds. */
  list(state: ApprovalView['state'] | undefined, page: PageRequest): Page<ApprovalView> {
    const order = { ...page, order: 'newest-first' } as const;
    const toSummary = (r: SummaryRow): ApprovalView => {
      const summary = readSummary(r);
      return { ...toView({ ...r, params: '{}' }, this.#approvalsOf(r.request_id)), params: summary.params, paramsTruncated: summary.truncated };
    };
    return state ? readPage(this.#pageState, { state }, order, toSummary) : readPage(this.#pageAll, {}, order, toSummary);
  }

  /**
   * Records one reviewer's decision on a pending request, in one transaction: a rejection ends it rejected, an
   * approval adds to its approvals and ends it approved once they reach reviewersRequired. Refused (nothing written)
   * when the request is no longer pending or this reviewer already decided it.
   */
  decide(requestId: string, d: ReviewerDecision): DecisionOutcome {
    return this.#record(requestId, d);
  }

  /** The pending requests of one intent. */
  pendingFor(intentId: string): string[] {
    return this.#pendingFor.all(intentId).map((r) => r.request_id);
  }

  /** How many requests one intent has made, whatever became of them. */
  countFor(intentId: string): number {
    return this.#countFor.get(intentId)?.n ?? 0;
  }

  /**
   * Ends a pending request nobody waits for any more, before its deadline: it
   * expires (a rejection, as a timeout is), with why. False if it was not pending.
   */
  cancel(requestId: string, reason: string, now: number): boolean {
    return this.#cancel.run({ requestId, reason, now }).changes === 1;
  }

  /** Marks every pending request past its deadline as expired; returns their ids. */
  expireDue(now: number): string[] {
    return this.#due
      .all(now)
      .map((r) => r.request_id)
      .filter((id) => this.#expire.run(id).changes === 1);
  }
}
