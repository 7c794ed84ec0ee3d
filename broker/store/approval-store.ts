import type { SealedEnvelope } from '../../core/identity';
import type { ApprovalView } from '../../core/rpc/views';
import type { ApprovalRequestBody } from '../../core/wire/approval';
import type { Kysely, Selectable } from 'kysely';
import { keysetRows, readPage } from './keyset-page';
import type { Page, PageRequest } from '../../core/rpc/pages';
import { lockingRows } from './sql/locks';
import { storableText } from './sql/stored-text';
import type { Storage } from './sql/storage';
import type { ApprovalsTable, BrokerTables } from './sql/tables';
import { paramsSmall, readSummary, summaryColumns } from './summary-params';

type ApprovalRow = Pick<Selectable<ApprovalsTable>, Exclude<keyof ApprovalsTable, 'rowid' | 'request_payload' | 'request_signature' | 'decision_payload' | 'decision_signature' | 'countersign_payload' | 'countersign_signature' | 'params_summary' | 'params_truncated'>>;

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
const SUMMARY_COLUMNS = [
  'request_id', 'intent_id', 'agent_did', 'user_did', 'capability', 'cwd', 'requested_at', 'expires_at', 'state', 'decided_by', 'reason', 'decided_at',
  'reviewers', 'self_review', 'model_call', 'rule', 'params_summary', 'params_truncated',
] as const;

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
  decision_payload: Buffer.from(d.envelope.payload),
  decision_signature: Buffer.from(d.envelope.signature),
  countersign_payload: Buffer.from(d.countersignature.payload),
  countersign_signature: Buffer.from(d.countersignature.signature),
});

/** Tool approval requests and decisions, persisted so a broker restart loses none. */
export class ApprovalStore {
  constructor(private readonly storage: Storage) {}

  /**
   * add() unless the request id exists (`replay`), its intent already made `bounds.perIntent` requests
   * (`approval-limit`) or has `bounds.pendingPerIntent` pending (`approval-pending`): checked and written in one
   * transaction, so concurrent requests of one intent cannot all pass the bounds.
   */
  async addWithin(
    request: ApprovalRequestBody,
    envelope: SealedEnvelope,
    modelCall: boolean,
    bounds: { perIntent: number; pendingPerIntent: number },
  ): Promise<ApprovalView | 'replay' | 'approval-limit' | 'approval-pending'> {
    return this.storage.transaction(async (trx) => {
      // The bounds count rows a concurrent request would add, which no lock on them can cover: the intent's own row is
      // the lock its requests queue on (PostgreSQL), so each counts what the one before it committed.
      await lockingRows(trx.selectFrom('intents').select('id').where('id', '=', request.intentId), this.storage.dialect).execute();
      if (await readRow(trx, request.requestId)) return 'replay' as const;
      if ((await countFor(trx, request.intentId)) >= bounds.perIntent) return 'approval-limit' as const;
      if ((await pendingFor(trx, request.intentId)).length >= bounds.pendingPerIntent) return 'approval-pending' as const;
      // The same id for another intent at once is not behind that lock: the key decides, and the second is a replay.
      if (!(await insert(trx, request, envelope, modelCall, { ifNew: true }))) return 'replay' as const;
      return (await view(trx, request.requestId))!;
    });
  }

  /** `modelCall`: the broker's own intent record says a task's model chose this call (never the agent's word). */
  async add(request: ApprovalRequestBody, envelope: SealedEnvelope, modelCall: boolean): Promise<ApprovalView> {
    await insert(this.storage.db, request, envelope, modelCall, { ifNew: false });
    return (await this.get(request.requestId))!;
  }

  /** Requests waiting for a reviewer (a gauge for the metrics listener). */
  async countPending(): Promise<number> {
    const row = await this.storage.db
      .selectFrom('approvals')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('state', '=', 'pending')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async get(requestId: string): Promise<ApprovalView | undefined> {
    return view(this.storage.db, requestId);
  }

  /** One page of requests, newest first, with their params summarized: never more rows read than the page holds. */
  async list(state: ApprovalView['state'] | undefined, page: PageRequest): Promise<Page<ApprovalView>> {
    const all = this.storage.db.selectFrom('approvals').select([...SUMMARY_COLUMNS, paramsSmall]);
    const rows = keysetRows(state ? all.where('state', '=', state) : all, 'requested_at', 'newest-first');
    return readPage(rows, { ...page, order: 'newest-first' }, async (r) => {
      const summary = readSummary(r);
      return { ...toView({ ...r, params: '{}' }, await approvalsOf(this.storage.db, r.request_id)), params: summary.params, paramsTruncated: summary.truncated };
    });
  }

  /**
   * Records one reviewer's decision on a pending request, in one transaction: a rejection ends it rejected, an
   * approval adds to its approvals and ends it approved once they reach reviewersRequired. Refused (nothing written)
   * when the request is no longer pending or this reviewer already decided it.
   */
  async decide(requestId: string, d: ReviewerDecision): Promise<DecisionOutcome> {
    return this.storage.transaction(async (trx): Promise<DecisionOutcome> => {
      // Locked (PostgreSQL) before it is read: concurrent decisions on one request each see the approvals of those
      // before them, so a quorum is neither missed nor passed twice.
      const row = await lockingRows(trx.selectFrom('approvals').selectAll().where('request_id', '=', requestId), this.storage.dialect).executeTakeFirst();
      if (row?.state !== 'pending') return { ok: false, why: 'not-pending' };
      const before = toView(row, await approvalsOf(trx, requestId));
      // One row per reviewer and request: the key refuses the same reviewer twice, whatever they signed.
      const inserted = await trx
        .insertInto('approval_decisions')
        .values({
          request_id: requestId,
          reviewer: d.reviewer,
          decision: d.decision,
          self_review: d.selfReview ? 1 : 0,
          decided_at: d.decidedAt,
          ...envelopeColumns(d),
        })
        .onConflict((oc) => oc.columns(['request_id', 'reviewer']).doNothing())
        .executeTakeFirst();
      if (inserted.numInsertedOrUpdatedRows !== 1n) return { ok: false, why: 'same-reviewer' };
      // Any one rejection ends the request; approvals end it once there are as many as it requires.
      const approvals = before.approvals.length + (d.decision === 'approve' ? 1 : 0);
      const state = d.decision === 'reject' ? 'rejected' : approvals >= before.reviewersRequired ? 'approved' : undefined;
      if (state) {
        await trx
          .updateTable('approvals')
          .set({ state, decided_by: d.reviewer, reason: d.reason === null ? null : storableText(d.reason), decided_at: d.decidedAt, ...envelopeColumns(d) })
          .where('request_id', '=', requestId)
          .where('state', '=', 'pending')
          .execute();
      }
      return { ok: true, view: (await view(trx, requestId))! };
    });
  }

  /** The pending requests of one intent. */
  async pendingFor(intentId: string): Promise<string[]> {
    return pendingFor(this.storage.db, intentId);
  }

  /** How many requests one intent has made, whatever became of them. */
  async countFor(intentId: string): Promise<number> {
    return countFor(this.storage.db, intentId);
  }

  /**
   * Ends a pending request nobody waits for any more, before its deadline: it
   * expires (a rejection, as a timeout is), with why. False if it was not pending.
   */
  async cancel(requestId: string, reason: string, now: number): Promise<boolean> {
    const result = await this.storage.db
      .updateTable('approvals')
      .set({ state: 'expired', reason, decided_at: now })
      .where('request_id', '=', requestId)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  /** Marks every pending request past its deadline as expired; returns their ids. */
  async expireDue(now: number): Promise<string[]> {
    // One statement: a request decided meanwhile is no longer pending, and is not expired.
    const rows = await this.storage.db
      .updateTable('approvals')
      .set({ state: 'expired' })
      .where('state', '=', 'pending')
      .where('expires_at', '<=', now)
      .returning('request_id')
      .execute();
    return rows.map((r) => r.request_id);
  }
}

type Db = Kysely<BrokerTables>;

const readRow = (db: Db, requestId: string) => db.selectFrom('approvals').selectAll().where('request_id', '=', requestId).executeTakeFirst();

async function view(db: Db, requestId: string): Promise<ApprovalView | undefined> {
  const row = await readRow(db, requestId);
  return row ? toView(row, await approvalsOf(db, requestId)) : undefined;
}

/** The approvals of a request in the order they came (rowid: SQLite's own, PostgreSQL's identity). */
async function approvalsOf(db: Db, requestId: string): Promise<Approvals> {
  const rows = await db
    .selectFrom('approval_decisions')
    .select(['reviewer', 'decided_at', 'self_review'])
    .where('request_id', '=', requestId)
    .where('decision', '=', 'approve')
    .orderBy('rowid')
    .execute();
  return rows.map((a) => ({ reviewer: a.reviewer, decidedAt: a.decided_at, selfReview: a.self_review === 1 }));
}

async function pendingFor(db: Db, intentId: string): Promise<string[]> {
  const rows = await db.selectFrom('approvals').select('request_id').where('intent_id', '=', intentId).where('state', '=', 'pending').execute();
  return rows.map((r) => r.request_id);
}

async function countFor(db: Db, intentId: string): Promise<number> {
  const row = await db
    .selectFrom('approvals')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('intent_id', '=', intentId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Writes a pending request; `ifNew`: a request id already stored writes nothing and returns false, instead of failing. */
async function insert(db: Db, request: ApprovalRequestBody, envelope: SealedEnvelope, modelCall: boolean, options: { ifNew: boolean }): Promise<boolean> {
  const summary = summaryColumns(request.params);
  const query = db.insertInto('approvals').values({
    request_id: request.requestId,
    intent_id: request.intentId,
    agent_did: request.agent,
    user_did: request.user,
    capability: request.capability,
    params: JSON.stringify(request.params),
    params_summary: summary.paramsSummary,
    params_truncated: summary.paramsTruncated,
    // The agent's text (cwd, rule) and a reviewer's reason as both backends can hold them; the signed envelopes keep the original.
    cwd: storableText(request.cwd),
    requested_at: request.requestedAt,
    expires_at: request.expiresAt,
    state: 'pending',
    request_payload: Buffer.from(envelope.payload),
    request_signature: Buffer.from(envelope.signature),
    reviewers: request.reviewers ?? null,
    self_review: request.selfReview ? 1 : 0,
    model_call: modelCall ? 1 : 0,
    rule: request.rule === undefined ? null : storableText(request.rule),
  });
  const result = await (options.ifNew ? query.onConflict((oc) => oc.column('request_id').doNothing()) : query).executeTakeFirst();
  return result.numInsertedOrUpdatedRows === 1n;
}
