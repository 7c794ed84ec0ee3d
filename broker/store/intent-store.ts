import { sql, type Selectable, type Transaction } from 'kysely';
import { BUDGETS } from '../../core/budgets';
import type { IntentDetail, IntentPart, IntentState, IntentSummary, IntentView } from '../../core/rpc/views';
import type { SealedEnvelope } from '../../core/identity';
import type { IntentBody, ResultBody } from '../../core/wire/intent';
import type { IntentOrigin } from '../../core/wire/intent-origin';
import { HOUR_MS } from '../../core/policy/intent-gates';
import { HourlyWindow } from './hourly-window';
import { keysetRows, readPage, type Keyed, type PageRows } from './keyset-page';
import type { Page, PageRequest } from '../../core/rpc/pages';
import { paramsSmall, readSummary, summaryColumns, type SummaryColumns } from './summary-params';
import { GroupCommit } from './sql/group-commit';
import { storableText } from './sql/stored-text';
import type { Storage } from './sql/storage';
import type { BrokerTables, IntentsTable } from './sql/tables';

type IntentRow = Omit<Selectable<IntentsTable>, 'rowid' | 'state'> & { state: IntentState };

const b64 = (b: Buffer | null) => (b ? b.toString('base64') : null);

/** The columns every shape of an intent carries as they are: a view, a summary and a detail differ only in the rest. */
function commonFields(row: Omit<IntentRow, 'params' | 'output' | 'intent_payload' | 'intent_signature' | 'result_payload' | 'result_signature'>) {
  return {
    id: row.id,
    agent: row.agent_did,
    capability: row.capability as IntentView['capability'],
    user: row.user_did,
    state: row.state,
    outcome: row.outcome as IntentView['outcome'],
    reason: row.reason as IntentView['reason'],
    rejectedBy: row.rejected_by as IntentView['rejectedBy'],
    message: row.message,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.via === null ? {} : { via: row.via as IntentOrigin }),
  };
}

function toView(row: IntentRow): IntentView {
  const signed = (payload: Buffer | null, signature: Buffer | null) =>
    payload && signature ? { payload: b64(payload)!, signature: b64(signature)! } : null;
  return {
    ...commonFields(row),
    params: JSON.parse(row.params) as Record<string, unknown>,
    output: row.output ? (JSON.parse(row.output) as Record<string, unknown>) : null,
    signedIntent: signed(row.intent_payload, row.intent_signature),
    signedResult: signed(row.result_payload, row.result_signature),
  };
}

/** The columns of a list item: no output, no envelopes, no params but their summary. */
const SUMMARY_COLUMNS = ['id', 'agent_did', 'capability', 'user_did', 'state', 'outcome', 'reason', 'rejected_by', 'message', 'created_at', 'updated_at', 'via', 'params_summary', 'params_truncated'] as const;

interface SummaryRow
  extends Omit<IntentRow, 'params' | 'output' | 'intent_payload' | 'intent_signature' | 'result_payload' | 'result_signature'>,
    SummaryColumns {}

/** What a detail costs before any large part is read: the size of each part, from the database's lengths. */
interface SizedRow extends SummaryRow {
  params_bytes: number;
  output_bytes: number | null;
  intent_bytes: number | null;
  result_bytes: number | null;
}

function toSummary(row: SummaryRow): IntentSummary {
  const params = readSummary(row);
  return { ...commonFields(row), params: params.params, paramsTruncated: params.truncated };
}

/** Base64 of `n` bytes, with the quotes and key around it. */
const base64Bytes = (n: number) => 4 * Math.ceil(n / 3);
const ENVELOPE_JSON_BYTES = 64;

/** The columns a verified result sets. The message is the agent's text: storableText, as every message written here. */
function resultColumns(result: ResultBody, envelope: SealedEnvelope, now: number) {
  return {
    outcome: result.outcome,
    reason: result.reason,
    rejected_by: result.outcome === 'rejected' ? ('agent' as const) : null,
    message: storableText(result.message),
    output: result.output ? JSON.stringify(result.output) : null,
    result_payload: Buffer.from(envelope.payload),
    result_signature: Buffer.from(envelope.signature),
    updated_at: now,
  };
}

/** States an intent leaves only once: a result, a loss or a cancel moves it from one of these, never from a final one. */
const IN_FLIGHT = ['sent', 'running'] as const;

type Db = Storage['db'] | Transaction<BrokerTables>;

/**
 * Every intent and its outcome, persisted from the moment it is signed, on SQLite or PostgreSQL alike.
 *
 * On SQLite the writes that arrive together are committed together (GroupCommit: one transaction per group, each
 * caller answered after its commit): an intent's two writes each paid a transaction of its own (BEGIN, COMMIT and
 * its WAL pages, two durability pragmas) on the broker's one thread. On PostgreSQL each write is its own
 * transaction: a group would hold the row locks of #insertWithinPostgres for all its agents at once, against other
 * nodes' groups.
 *
 * Intent rows are committed with relaxed durability ({ relaxed: true }): a power
 * loss (or a PostgreSQL server crash) may drop the last few, which the system already survives. The agent's
 * seen-id record, durable before it executes anything, is what guarantees an
 * intent never runs twice (a result for a lost row is refused as unknown-intent);
 * the agent enforces the hourly rate from its own durable
 * window. What an admin decides (registrations, policies, users, grants,
 * revocations, approvals) stays durable.
 *
 * Every state change is one conditional UPDATE (`WHERE state IN ('sent', 'running')`, late results
 * `WHERE result_payload IS NULL`): of two concurrent changes to one intent, on either backend and from any
 * number of processes, exactly one matches a row.
 */
export class IntentStore {
  readonly #storage: Storage;
  /** Views of the intents this process sent and that are not final yet: the result path reads them instead of the row. */
  readonly #open = new Map<string, IntentView>();
  /**
   * SQLite only: the broker's view of each agent's hourly rate (intents sent and not rejected by the agent). One
   * broker process owns a SQLite file, so this process sees every row that counts. On PostgreSQL several nodes
   * write the table, so the rows themselves are counted (see #insertWithinPostgres) and no window is kept.
   */
  readonly #window: HourlyWindow | undefined;
  /** SQLite only: the group commit every write of this store goes through (see the class comment). */
  readonly #group: GroupCommit | undefined;

  /** Opens the store; on SQLite, rebuilds the hourly window from the last hour's rows. */
  static async open(storage: Storage, now: number = Date.now()): Promise<IntentStore> {
    const store = new IntentStore(storage);
    await store.#loadWindow(now);
    return store;
  }

  private constructor(storage: Storage) {
    this.#storage = storage;
    this.#window = storage.dialect === 'sqlite' ? new HourlyWindow() : undefined;
    this.#group = storage.dialect === 'sqlite' ? new GroupCommit(storage, { relaxed: true }) : undefined;
  }

  async #loadWindow(now: number): Promise<void> {
    if (!this.#window) return;
    const rows = await this.#storage.db
      .selectFrom('intents')
      .select(['id', 'agent_did', 'created_at'])
      .where('created_at', '>', now - HOUR_MS)
      .where('rejected_by', 'is', null)
      .orderBy('created_at')
      .orderBy('rowid')
      .execute();
    for (const row of rows) this.#window.add(row.agent_did, row.id, row.created_at);
  }

  /** Runs one write with relaxed durability, on SQLite in the next group's transaction (see the class comment). */
  #relaxed<T>(fn: (trx: Transaction<BrokerTables>) => Promise<T>): Promise<T> {
    return this.#group ? this.#group.run(fn) : this.#storage.transaction(fn, { relaxed: true });
  }

  /**
   * Records an intent the broker signed and is about to send. `via` is the broker's own record of who chose it,
   * kept even when the signed body leaves it out (an agent before 0.5.0 would refuse it there).
   */
  async recordSent(intent: IntentBody, envelope: SealedEnvelope, now: number, via?: IntentOrigin): Promise<IntentView> {
    const row = sentRow(intent, envelope, now, via);
    await this.#relaxed((trx) => trx.insertInto('intents').values(row).execute());
    this.#window?.add(intent.agent, intent.id, now);
    return this.#opened(intent, row, via, now);
  }

  /**
   * recordSent() unless the agent already has `hourly.max` intents counted since `hourly.since` (undefined, nothing
   * written): the rate check and the row it counts in one step, so concurrent dispatches cannot all pass it.
   *
   * SQLite: the window is checked and the intent entered in it in one synchronous step, before the first await, so
   * no other dispatch of this process (the only one writing the file) runs between them; a failed insert takes the
   * entry out again (a slot held an instant too long errs towards refusing). PostgreSQL: see #insertWithinPostgres.
   */
  async recordSentWithin(
    intent: IntentBody,
    envelope: SealedEnvelope,
    now: number,
    via: IntentOrigin | undefined,
    hourly: { since: number; max: number },
  ): Promise<IntentView | undefined> {
    const row = sentRow(intent, envelope, now, via);
    if (!this.#window) return (await this.#insertWithinPostgres(row, hourly)) ? this.#opened(intent, row, via, now) : undefined;
    if (this.#window.countSince(intent.agent, hourly.since) >= hourly.max) return undefined;
    this.#window.add(intent.agent, intent.id, now);
    try {
      await this.#relaxed((trx) => trx.insertInto('intents').values(row).execute());
    } catch (err) {
      this.#window.remove(intent.agent, intent.id);
      throw err;
    }
    return this.#opened(intent, row, via, now);
  }

  /**
   * PostgreSQL, where other broker nodes insert into the same table: in one transaction, lock the agent's row
   * (FOR UPDATE), count its rows of the hour, insert only below the limit. Under READ COMMITTED a count alone
   * would not do: two nodes' transactions would each count the other's row as absent and both insert. The row
   * lock serialises every guarded insert for one agent across nodes (other agents are not held up), and the count
   * runs after the lock is granted, in a snapshot of its own that sees the insert the previous holder committed.
   * The agents row exists for every intent (foreign key); a missing one fails the insert as it would without the lock.
   */
  async #insertWithinPostgres(row: SentRow, hourly: { since: number; max: number }): Promise<boolean> {
    return this.#relaxed(async (trx) => {
      await trx.selectFrom('agents').select('did').where('did', '=', row.agent_did).forUpdate().execute();
      if ((await countSince(trx, row.agent_did, hourly.since)) >= hourly.max) return false;
      await trx.insertInto('intents').values(row).execute();
      return true;
    });
  }

  #opened(intent: IntentBody, row: SentRow, via: IntentOrigin | undefined, now: number): IntentView {
    const view: IntentView = {
      ...newView(intent, via, row.params, now),
      state: 'sent',
      signedIntent: { payload: row.intent_payload.toString('base64'), signature: row.intent_signature.toString('base64') },
    };
    this.#open.set(intent.id, view);
    return view;
  }

  /** Records an intent the broker refused before signing anything (defence in depth); it is final at once. */
  async recordRefused(intent: IntentBody, reason: IntentView['reason'], message: string, now: number, via?: IntentOrigin): Promise<IntentView> {
    const params = JSON.stringify(intent.params);
    const refused = { state: 'rejected', outcome: 'rejected', reason, rejectedBy: 'broker', message: storableText(message) } as const;
    await this.#relaxed((trx) =>
      trx
        .insertInto('intents')
        .values({
          ...newRow(intent, params, now, via),
          state: refused.state,
          outcome: refused.outcome,
          reason,
          rejected_by: refused.rejectedBy,
          message: refused.message,
        })
        .execute(),
    );
    return { ...newView(intent, via, params, now), ...refused };
  }

  /** Sets `columns` on an intent still in flight; true if it was (exactly one of concurrent callers sees true). */
  async #finishInFlight(id: string, columns: Partial<Omit<IntentRow, 'id'>>): Promise<boolean> {
    const { numUpdatedRows } = await this.#relaxed((trx) =>
      trx.updateTable('intents').set(columns).where('id', '=', id).where('state', 'in', IN_FLIGHT).executeTakeFirst(),
    );
    return numUpdatedRows === 1n;
  }

  /** The agent reported progress: returns the new view, or undefined if the intent was not waiting to start. */
  async markRunning(id: string, now: number): Promise<IntentView | undefined> {
    if (!(await this.#finishInFlight(id, { state: 'running', updated_at: now }))) return undefined;
    return this.#update(id, { state: 'running', updatedAt: now }, false);
  }

  /** Records the agent's verified result. Returns the final view, or undefined if the intent was already final (a duplicate). */
  async recordResult(result: ResultBody, envelope: SealedEnvelope, now: number): Promise<IntentView | undefined> {
    const columns = resultColumns(result, envelope, now);
    if (!(await this.#finishInFlight(result.intentId, { ...columns, state: result.outcome }))) return undefined;
    return this.#update(
      result.intentId,
      {
        state: result.outcome,
        outcome: result.outcome,
        reason: result.reason,
        rejectedBy: columns.rejected_by,
        message: columns.message,
        output: columns.output === null ? null : (JSON.parse(columns.output) as Record<string, unknown>),
        updatedAt: now,
        signedResult: { payload: columns.result_payload.toString('base64'), signature: columns.result_signature.toString('base64') },
      },
      true,
    );
  }

  /**
   * A verified result for an intent already final as lost-agent (its agent came
   * back after the grace period) or cancelled (the agent's answer to the cancel):
   * the signed answer is kept and shown, the state stays the one final state it
   * was given. Undefined if there is nothing to add.
   */
  async recordLateResult(result: ResultBody, envelope: SealedEnvelope, now: number): Promise<IntentView | undefined> {
    const { numUpdatedRows } = await this.#relaxed((trx) =>
      trx
        .updateTable('intents')
        .set(resultColumns(result, envelope, now))
        .where('id', '=', result.intentId)
        .where('state', 'in', ['lost-agent', 'cancelled'])
        .where('result_payload', 'is', null)
        .executeTakeFirst(),
    );
    return numUpdatedRows === 1n ? this.#view(result.intentId) : undefined;
  }

  /** Ends an in-flight intent whose agent went away before answering. Returns the final view, or undefined if it was already final. */
  async markLost(id: string, message: string, now: number): Promise<IntentView | undefined> {
    const lost = { state: 'lost-agent', outcome: null, reason: null, rejectedBy: null, message: storableText(message) } as const;
    if (!(await this.#finishInFlight(id, endedColumns(lost, now)))) return undefined;
    return this.#update(id, { ...lost, updatedAt: now }, true);
  }

  /** Ends an in-flight intent its requester or an admin cancelled. Returns the final view, or undefined if it was already final. */
  async markCancelled(id: string, message: string, now: number): Promise<IntentView | undefined> {
    const cancelled = { state: 'cancelled', outcome: null, reason: 'cancelled', rejectedBy: null, message: storableText(message) } as const;
    if (!(await this.#finishInFlight(id, endedColumns(cancelled, now)))) return undefined;
    return this.#update(id, { ...cancelled, updatedAt: now }, true);
  }

  /** Resolves once every write asked for so far has committed or failed: before the storage closes (Broker.close). */
  settled(): Promise<void> {
    return this.#group ? this.#group.settled() : Promise.resolve();
  }

  async get(id: string): Promise<IntentView | undefined> {
    return this.#view(id);
  }

  /**
   * The open view if this process has one; otherwise the row. On PostgreSQL always the row: another node may
   * have ended an intent this one sent, and only the row knows.
   */
  async #view(id: string): Promise<IntentView | undefined> {
    const open = this.#window ? this.#open.get(id) : undefined;
    if (open) return open;
    const row = await this.#storage.db.selectFrom('intents').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toView(row as IntentRow) : undefined;
  }

  /** One page of intents, newest first, as summaries: never more rows read than the page holds. */
  async list(filter: { agent?: string | undefined }, page: PageRequest): Promise<Page<IntentSummary>> {
    return readPage(this.#newestFirst(filter.agent), { ...page, order: 'newest-first' }, toSummary);
  }

  /** Summaries newest first after a keyset position, of one agent or all: an index walk on both backends. */
  #newestFirst(agent: string | undefined): PageRows<SummaryRow & Keyed> {
    const all = this.#storage.db.selectFrom('intents').select([...SUMMARY_COLUMNS, paramsSmall]);
    return keysetRows(agent === undefined ? all : all.where('agent_did', '=', agent), 'created_at', 'newest-first') as PageRows<SummaryRow & Keyed>;
  }

  /**
   * One intent in full, within BUDGETS.intentDetailBytes. Each part's size is
   * read from the database before the part itself: a part that would take the detail
   * past the budget (a compromised agent's output up to the frame limit, and
   * the signed result that repeats it) is never read, only named in `omitted`.
   */
  async detail(id: string): Promise<IntentDetail | undefined> {
    const db = this.#storage.db;
    const row = (await db
      .selectFrom('intents')
      .select([
        ...SUMMARY_COLUMNS,
        paramsSmall,
        sql<number>`octet_length(params)`.as('params_bytes'),
        sql<number | null>`octet_length(output)`.as('output_bytes'),
        sql<number | null>`octet_length(intent_payload) + octet_length(intent_signature)`.as('intent_bytes'),
        sql<number | null>`octet_length(result_payload) + octet_length(result_signature)`.as('result_bytes'),
      ])
      .where('id', '=', id)
      .executeTakeFirst()) as SizedRow | undefined;
    if (!row) return undefined;
    const { params: summaryParams, paramsTruncated, ...base } = toSummary(row);
    let room = BUDGETS.intentDetailBytes.limit - Buffer.byteLength(JSON.stringify(base)) - 512;
    const omitted: IntentPart[] = [];
    const fits = (part: IntentPart, bytes: number | null) => {
      if (bytes === null) return false;
      if (bytes > room) {
        omitted.push(part);
        return false;
      }
      room -= bytes;
      return true;
    };
    const one = <C extends 'params' | 'output' | 'intent_payload' | 'intent_signature' | 'result_payload' | 'result_signature'>(...columns: C[]) =>
      db.selectFrom('intents').select(columns).where('id', '=', id).executeTakeFirstOrThrow();
    const envelope = (e: { payload: Buffer | null; signature: Buffer | null }) =>
      e.payload && e.signature ? { payload: e.payload.toString('base64'), signature: e.signature.toString('base64') } : null;
    const envelopeBytes = (n: number | null) => (n === null ? null : base64Bytes(n) + ENVELOPE_JSON_BYTES);
    const params = fits('params', row.params_bytes) ? (JSON.parse((await one('params')).params) as Record<string, unknown>) : summaryParams;
    if (omitted.includes('params')) room -= Buffer.byteLength(JSON.stringify(summaryParams));
    const output = fits('output', row.output_bytes) ? (JSON.parse((await one('output')).output!) as Record<string, unknown>) : null;
    const result = fits('signedResult', envelopeBytes(row.result_bytes)) ? await one('result_payload', 'result_signature') : undefined;
    const signedResult = result ? envelope({ payload: result.result_payload, signature: result.result_signature }) : null;
    const sent = fits('signedIntent', envelopeBytes(row.intent_bytes)) ? await one('intent_payload', 'intent_signature') : undefined;
    const signedIntent = sent ? envelope({ payload: sent.intent_payload, signature: sent.intent_signature }) : null;
    return { ...base, params, output, signedResult, signedIntent, omitted };
  }

  async inFlight(agent: string): Promise<IntentView[]> {
    const rows = await this.#storage.db.selectFrom('intents').selectAll().where('agent_did', '=', agent).where('state', 'in', IN_FLIGHT).execute();
    return rows.map((row) => toView(row as IntentRow));
  }

  /** The agents holding an intent not final yet: at start, one query instead of one per registered agent. */
  async agentsWithIntentsInFlight(): Promise<string[]> {
    const rows = await this.#storage.db.selectFrom('intents').select('agent_did').distinct().where('state', 'in', IN_FLIGHT).execute();
    return rows.map((r) => r.agent_did);
  }

  /** Intents sent to an agent since a time and not refused by it (the broker's view of the hourly rate; on PostgreSQL, every node's). */
  async sentSince(agent: string, since: number): Promise<number> {
    return this.#window ? this.#window.countSince(agent, since) : countSince(this.#storage.db, agent, since);
  }

  /** The row changed as `change` says: the open view follows it (a row sent by an earlier process, or another node, is read back). */
  async #update(id: string, change: Partial<IntentView>, final: boolean): Promise<IntentView> {
    const open = this.#open.get(id);
    // The conditional UPDATE just matched, so the row was in flight: an open view still holds all but what changed.
    const view = open ? { ...open, ...change } : (await this.#view(id))!;
    if (final) this.#open.delete(id);
    else this.#open.set(id, view);
    if (view.rejectedBy === 'agent') this.#window?.remove(view.agent, id);
    return view;
  }
}

/** The rows that count toward an agent's hourly rate: sent after `since`, not rejected (by the agent or the broker). */
async function countSince(db: Db, agent: string, since: number): Promise<number> {
  const { n } = await db
    .selectFrom('intents')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('agent_did', '=', agent)
    .where('created_at', '>', since)
    .where('rejected_by', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(n);
}

/** The columns of a new row (its state and outcome aside). */
function newRow(intent: IntentBody, params: string, now: number, via: IntentOrigin | undefined) {
  const summary = summaryColumns(intent.params);
  return {
    id: intent.id,
    agent_did: intent.agent,
    capability: intent.capability,
    params,
    params_summary: summary.paramsSummary,
    params_truncated: summary.paramsTruncated,
    user_did: intent.user,
    created_at: now,
    updated_at: now,
    via: via ?? null,
  };
}

type SentRow = ReturnType<typeof sentRow>;

/** The row of an intent signed and about to be sent. */
function sentRow(intent: IntentBody, envelope: SealedEnvelope, now: number, via: IntentOrigin | undefined) {
  return { ...newRow(intent, JSON.stringify(intent.params), now, via), state: 'sent', intent_payload: Buffer.from(envelope.payload), intent_signature: Buffer.from(envelope.signature) };
}

/** The columns of an intent ended without a result (lost, cancelled). */
function endedColumns(ended: { state: IntentState; outcome: null; reason: IntentView['reason']; rejectedBy: null; message: string }, now: number) {
  return { state: ended.state, outcome: null, reason: ended.reason, rejected_by: null, message: ended.message, output: null, result_payload: null, result_signature: null, updated_at: now };
}

/** The view of a row just inserted, as toView would read it back. */
function newView(intent: IntentBody, via: IntentOrigin | undefined, params: string, now: number): IntentView {
  return {
    id: intent.id,
    agent: intent.agent,
    capability: intent.capability,
    params: JSON.parse(params) as Record<string, unknown>,
    user: intent.user,
    state: 'sent',
    outcome: null,
    reason: null,
    rejectedBy: null,
    message: null,
    output: null,
    createdAt: now,
    updatedAt: now,
    signedIntent: null,
    signedResult: null,
    ...(via === undefined ? {} : { via }),
  };
}
