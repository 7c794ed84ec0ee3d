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
}

const toView = (r: ApprovalRow): ApprovalView => ({
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
  reviewersRequired: 1,
  approvals: [],
  modelCall: false,
});

/** A list reads the summary of the params written beside them, never the params. */
const SUMMARY_COLUMNS = `request_id, intent_id, agent_did, user_did, capability, cwd, requested_at, expires_at, state, decided_by, reason, decided_at, ${SUMMARY_COLUMNS_SQL}`;

interface SummaryRow extends Omit<ApprovalRow, 'params'>, SummaryColumns, Keyed {}

function toSummary(r: SummaryRow): ApprovalView {
  const summary = readSummary(r);
  return { ...toView({ ...r, params: '{}' }), params: summary.params, paramsTruncated: summary.truncated };
}

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

  constructor(db: BrokerDatabase) {
    this.#insert = db.prepare(
      `INSERT INTO approvals (request_id, intent_id, agent_did, user_did, capability, params, params_summary, params_truncated, cwd, requested_at, expires_at,
         state, request_payload, request_signature)
       VALUES (@requestId, @intentId, @agent, @user, @capability, @params, @paramsSummary, @paramsTruncated, @cwd, @requestedAt, @expiresAt,
         'pending', @payload, @signature)`,
    );
    this.#get = db.prepare<[string], ApprovalRow>('SELECT * FROM approvals WHERE request_id = ?');
    const page = (where: string) =>
      db.prepare<[Record<string, unknown>], SummaryRow>(
        `SELECT ${SUMMARY_COLUMNS}, requested_at AS page_key, rowid AS page_rowid FROM approvals
         WHERE ${where} (requested_at, rowid) < (@key, @rowid) ORDER BY requested_at DESC, rowid DESC LIMIT @limit`,
      );
    this.#pageAll = page('');
    this.#pageState = page('state = @state AND');
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
  }

  add(request: ApprovalRequestBody, envelope: SealedEnvelope): ApprovalView {
    this.#insert.run({
      ...request,
      params: JSON.stringify(request.params),
      ...summaryColumns(request.params),
      payload: Buffer.from(envelope.payload),
      signature: Buffer.from(envelope.signature),
    });
    return this.get(request.requestId)!;
  }

  get(requestId: string): ApprovalView | undefined {
    const row = this.#get.get(requestId);
    return row ? toView(row) : undefined;
  }

  /** One page of requests, newest first, with their params summarized: never more rows read than the page holds. */
  list(state: ApprovalView['state'] | undefined, page: PageRequest): Page<ApprovalView> {
    const order = { ...page, order: 'newest-first' } as const;
    return state ? readPage(this.#pageState, { state }, order, toSummary) : readPage(this.#pageAll, {}, order, toSummary);
  }

  decide(
    requestId: string,
    d: { state: 'approved' | 'rejected'; reviewer: string; reason: string | null; decidedAt: number; decision: SealedEnvelope; countersignature: SealedEnvelope },
  ): boolean {
    return (
      this.#decide.run({
        requestId,
        state: d.state,
        reviewer: d.reviewer,
        reason: d.reason,
        decidedAt: d.decidedAt,
        decisionPayload: Buffer.from(d.decision.payload),
        decisionSignature: Buffer.from(d.decision.signature),
        counterPayload: Buffer.from(d.countersignature.payload),
        counterSignature: Buffer.from(d.countersignature.signature),
      }).changes === 1
    );
  }

  /** The pending requests of one intent. */
  pendingFor(intentId: string): string[] {
    return this.#pendingFor.all(intentId).map((r) => r.request_id);
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
