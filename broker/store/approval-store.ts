import type { SealedEnvelope } from '../../core/identity';
import type { ApprovalView } from '../../core/rpc/views';
import type { ApprovalRequestBody } from '../../core/wire/approval';
import type { BrokerDatabase } from './database';

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
});

/** Tool approval requests and decisions, persisted so a broker restart loses none. */
export class ApprovalStore {
  readonly #insert;
  readonly #get;
  readonly #list;
  readonly #listState;
  readonly #decide;
  readonly #expire;
  readonly #due;
  readonly #cancel;
  readonly #pendingFor;

  constructor(db: BrokerDatabase) {
    this.#insert = db.prepare(
      `INSERT INTO approvals (request_id, intent_id, agent_did, user_did, capability, params, cwd, requested_at, expires_at, state, request_payload, request_signature)
       VALUES (@requestId, @intentId, @agent, @user, @capability, @params, @cwd, @requestedAt, @expiresAt, 'pending', @payload, @signature)`,
    );
    this.#get = db.prepare<[string], ApprovalRow>('SELECT * FROM approvals WHERE request_id = ?');
    this.#list = db.prepare<[], ApprovalRow>('SELECT * FROM approvals ORDER BY requested_at DESC LIMIT 500');
    this.#listState = db.prepare<[string], ApprovalRow>('SELECT * FROM approvals WHERE state = ? ORDER BY requested_at DESC LIMIT 500');
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
      payload: Buffer.from(envelope.payload),
      signature: Buffer.from(envelope.signature),
    });
    return this.get(request.requestId)!;
  }

  get(requestId: string): ApprovalView | undefined {
    const row = this.#get.get(requestId);
    return row ? toView(row) : undefined;
  }

  list(state?: ApprovalView['state']): ApprovalView[] {
    return (state ? this.#listState.all(state) : this.#list.all()).map(toView);
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
