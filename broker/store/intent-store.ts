import { BUDGETS } from '../../core/budgets';
import type { IntentDetail, IntentPart, IntentState, IntentSummary, IntentView } from '../../core/rpc/views';
import type { SealedEnvelope } from '../../core/identity';
import type { IntentBody, ResultBody } from '../../core/wire/intent';
import type { IntentOrigin } from '../../core/wire/intent-origin';
import { relaxedWrites, type BrokerDatabase } from './database';
import { HOUR_MS } from '../../core/policy/intent-gates';
import { HourlyWindow } from './hourly-window';
import { readPage, type Keyed } from './keyset-page';
import type { Page, PageRequest } from '../../core/rpc/pages';
import { readSummary, SUMMARY_COLUMNS_SQL, summaryColumns, type SummaryColumns } from './summary-params';

interface IntentRow {
  id: string;
  agent_did: string;
  capability: string;
  params: string;
  user_did: string;
  state: IntentState;
  outcome: string | null;
  reason: string | null;
  rejected_by: string | null;
  message: string | null;
  output: string | null;
  intent_payload: Buffer | null;
  intent_signature: Buffer | null;
  result_payload: Buffer | null;
  result_signature: Buffer | null;
  created_at: number;
  updated_at: number;
  via: string | null;
}

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
const SUMMARY_COLUMNS = `id, agent_did, capability, user_did, state, outcome, reason, rejected_by, message, created_at, updated_at, via, ${SUMMARY_COLUMNS_SQL}`;

interface SummaryRow
  extends Omit<IntentRow, 'params' | 'output' | 'intent_payload' | 'intent_signature' | 'result_payload' | 'result_signature'>,
    SummaryColumns {}

/** What a detail costs before any large part is read: the size of each part, from SQLite's lengths. */
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

function resultColumns(result: ResultBody, envelope: SealedEnvelope, now: number) {
  return {
    id: result.intentId,
    outcome: result.outcome,
    reason: result.reason,
    rejectedBy: result.outcome === 'rejected' ? ('agent' as const) : null,
    message: result.message,
    output: result.output ? JSON.stringify(result.output) : null,
    resultPayload: Buffer.from(envelope.payload),
    resultSignature: Buffer.from(envelope.signature),
    now,
  };
}

/**
 * Every intent and its outcome, persisted from the moment it is signed.
 *
 * Intent rows are committed with relaxed durability (relaxedWrites): a power
 * loss may drop the last few, which the system already survives. The agent's
 * seen-id record, durable before it executes anything, is what guarantees an
 * intent never runs twice (a result for a lost row is refused as unknown-intent);
 * the agent enforces the hourly rate from its own durable
 * window. What an admin decides (registrations, policies, users, grants,
 * revocations, approvals) stays synchronous=FULL.
 */
export class IntentStore {
  readonly #insert;
  readonly #get;
  readonly #finish;
  readonly #setState;
  readonly #late;
  readonly #pageAll;
  readonly #pageAgent;
  readonly #sized;
  readonly #params;
  readonly #output;
  readonly #signedIntent;
  readonly #signedResult;
  readonly #inFlight;
  readonly #agentsInFlight;
  readonly #recentlyCounted;
  readonly #relaxed;
  /** Views of the intents this process sent and that are not final yet: the result path reads them instead of the row. */
  readonly #open = new Map<string, IntentView>();
  /** The broker's view of each agent's hourly rate: intents sent and not rejected by the agent. */
  readonly #window = new HourlyWindow();

  constructor(db: BrokerDatabase, now: number = Date.now()) {
    this.#insert = db.prepare(
      `INSERT INTO intents (id, agent_did, capability, params, params_summary, params_truncated, user_did, state, outcome, reason, rejected_by, message,
         intent_payload, intent_signature, created_at, updated_at, via)
       VALUES (@id, @agent, @capability, @params, @paramsSummary, @paramsTruncated, @user, @state, @outcome, @reason, @rejectedBy, @message,
         @payload, @signature, @now, @now, @via)`,
    );
    this.#get = db.prepare<[string], IntentRow>('SELECT * FROM intents WHERE id = ?');
    this.#finish = db.prepare(
      `UPDATE intents SET state = @state, outcome = @outcome, reason = @reason, rejected_by = @rejectedBy, message = @message,
         output = @output, result_payload = @resultPayload, result_signature = @resultSignature, updated_at = @now
       WHERE id = @id AND state IN ('sent', 'running')`,
    );
    this.#late = db.prepare(
      `UPDATE intents SET outcome = @outcome, reason = @reason, rejected_by = @rejectedBy, message = @message,
         output = @output, result_payload = @resultPayload, result_signature = @resultSignature, updated_at = @now
       WHERE id = @id AND state IN ('lost-agent', 'cancelled') AND result_payload IS NULL`,
    );
    this.#setState = db.prepare(`UPDATE intents SET state = @state, updated_at = @now WHERE id = @id AND state IN ('sent', 'running')`);
    const page = (where: string) =>
      db.prepare<[Record<string, unknown>], SummaryRow & Keyed>(
        `SELECT ${SUMMARY_COLUMNS}, created_at AS page_key, rowid AS page_rowid FROM intents
         WHERE ${where} (created_at, rowid) < (@key, @rowid) ORDER BY created_at DESC, rowid DESC LIMIT @limit`,
      );
    this.#pageAll = page('');
    this.#pageAgent = page('agent_did = @agent AND');
    this.#sized = db.prepare<[string], SizedRow>(
      `SELECT ${SUMMARY_COLUMNS}, octet_length(params) AS params_bytes, octet_length(output) AS output_bytes,
         length(intent_payload) + length(intent_signature) AS intent_bytes, length(result_payload) + length(result_signature) AS result_bytes
       FROM intents WHERE id = ?`,
    );
    this.#params = db.prepare<[string], { params: string }>('SELECT params FROM intents WHERE id = ?');
    this.#output = db.prepare<[string], { output: string }>('SELECT output FROM intents WHERE id = ?');
    this.#signedIntent = db.prepare<[string], { payload: Buffer; signature: Buffer }>('SELECT intent_payload AS payload, intent_signature AS signature FROM intents WHERE id = ?');
    this.#signedResult = db.prepare<[string], { payload: Buffer; signature: Buffer }>('SELECT result_payload AS payload, result_signature AS signature FROM intents WHERE id = ?');
    this.#inFlight = db.prepare<[string], IntentRow>(`SELECT * FROM intents WHERE agent_did = ? AND state IN ('sent', 'running')`);
    this.#agentsInFlight = db.prepare<[], { agent_did: string }>(`SELECT DISTINCT agent_did FROM intents WHERE state IN ('sent', 'running')`);
    this.#recentlyCounted = db.prepare<[number], { id: string; agent_did: string; created_at: number }>(
      `SELECT id, agent_did, created_at FROM intents WHERE created_at > ? AND rejected_by IS NULL ORDER BY created_at, rowid`,
    );
    this.#relaxed = relaxedWrites(db);
    for (const row of this.#recentlyCounted.iterate(now - HOUR_MS)) this.#window.add(row.agent_did, row.id, row.created_at);
  }

  /**
   * Records an intent the broker signed and is about to send. `via` is the broker's own record of who chose it,
   * kept even when the signed body leaves it out (an agent before 0.5.0 would refuse it there).
   */
  recordSent(intent: IntentBody, envelope: SealedEnvelope, now: number, via?: IntentOrigin): IntentView {
    const params = JSON.stringify(intent.params);
    const summary = summaryColumns(intent.params);
    const payload = Buffer.from(envelope.payload);
    const signature = Buffer.from(envelope.signature);
    this.#relaxed(() =>
      this.#insert.run({ ...unset, ...summary, id: intent.id, agent: intent.agent, capability: intent.capability, params, user: intent.user, state: 'sent', payload, signature, now, via: via ?? null }),
    );
    this.#window.add(intent.agent, intent.id, now);
    const view: IntentView = {
      ...newView(intent, via, params, now),
      state: 'sent',
      signedIntent: { payload: payload.toString('base64'), signature: signature.toString('base64') },
    };
    this.#open.set(intent.id, view);
    return view;
  }

  /** Records an intent the broker refused before signing anything (defence in depth); it is final at once. */
  recordRefused(intent: IntentBody, reason: IntentView['reason'], message: string, now: number, via?: IntentOrigin): IntentView {
    const params = JSON.stringify(intent.params);
    const refused = { state: 'rejected', outcome: 'rejected', reason, rejectedBy: 'broker', message } as const;
    this.#relaxed(() =>
      this.#insert.run({ ...unset, ...summaryColumns(intent.params), id: intent.id, agent: intent.agent, capability: intent.capability, params, user: intent.user, ...refused, now, via: via ?? null }),
    );
    return { ...newView(intent, via, params, now), ...refused };
  }

  /** The agent reported progress: returns the new view, or undefined if the intent was not waiting to start. */
  markRunning(id: string, now: number): IntentView | undefined {
    if (this.#relaxed(() => this.#setState.run({ id, state: 'running', now }).changes) !== 1) return undefined;
    return this.#update(id, { state: 'running', updatedAt: now }, false);
  }

  /** Records the agent's verified result. Returns the final view, or undefined if the intent was already final (a duplicate). */
  recordResult(result: ResultBody, envelope: SealedEnvelope, now: number): IntentView | undefined {
    const columns = resultColumns(result, envelope, now);
    if (this.#relaxed(() => this.#finish.run({ ...columns, state: result.outcome }).changes) !== 1) return undefined;
    return this.#update(
      result.intentId,
      {
        state: result.outcome,
        outcome: result.outcome,
        reason: result.reason,
        rejectedBy: columns.rejectedBy,
        message: result.message,
        output: columns.output === null ? null : (JSON.parse(columns.output) as Record<string, unknown>),
        updatedAt: now,
        signedResult: { payload: columns.resultPayload.toString('base64'), signature: columns.resultSignature.toString('base64') },
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
  recordLateResult(result: ResultBody, envelope: SealedEnvelope, now: number): IntentView | undefined {
    return this.#relaxed(() => this.#late.run(resultColumns(result, envelope, now)).changes) === 1 ? this.get(result.intentId) : undefined;
  }

  /** Ends an in-flight intent whose agent went away before answering. Returns the final view, or undefined if it was already final. */
  markLost(id: string, message: string, now: number): IntentView | undefined {
    const lost = { state: 'lost-agent', outcome: null, reason: null, rejectedBy: null, message } as const;
    const changes = this.#relaxed(() => this.#finish.run({ id, ...lost, output: null, resultPayload: null, resultSignature: null, now }).changes);
    if (changes !== 1) return undefined;
    return this.#update(id, { ...lost, updatedAt: now }, true);
  }

  /** Ends an in-flight intent its requester or an admin cancelled. Returns the final view, or undefined if it was already final. */
  markCancelled(id: string, message: string, now: number): IntentView | undefined {
    const cancelled = { state: 'cancelled', outcome: null, reason: 'cancelled', rejectedBy: null, message } as const;
    const changes = this.#relaxed(() => this.#finish.run({ id, ...cancelled, output: null, resultPayload: null, resultSignature: null, now }).changes);
    if (changes !== 1) return undefined;
    return this.#update(id, { ...cancelled, updatedAt: now }, true);
  }

  get(id: string): IntentView | undefined {
    const open = this.#open.get(id);
    if (open) return open;
    const row = this.#get.get(id);
    return row ? toView(row) : undefined;
  }

  /** One page of intents, newest first, as summaries: never more rows read than the page holds. */
  list(filter: { agent?: string | undefined }, page: PageRequest): Page<IntentSummary> {
    const order = { ...page, order: 'newest-first' } as const;
    return filter.agent ? readPage(this.#pageAgent, { agent: filter.agent }, order, toSummary) : readPage(this.#pageAll, {}, order, toSummary);
  }

  /**
   * One intent in full, within BUDGETS.intentDetailBytes. Each part's size is
   * read from SQLite before the part itself: a part that would take the detail
   * past the budget (a compromised agent's output up to the frame limit, and
   * the signed result that repeats it) is never read, only named in `omitted`.
   */
  detail(id: string): IntentDetail | undefined {
    const row = this.#sized.get(id);
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
    const envelope = (e: { payload: Buffer | null; signature: Buffer | null } | undefined) =>
      e?.payload && e.signature ? { payload: e.payload.toString('base64'), signature: e.signature.toString('base64') } : null;
    const envelopeBytes = (n: number | null) => (n === null ? null : base64Bytes(n) + ENVELOPE_JSON_BYTES);
    const params = fits('params', row.params_bytes) ? (JSON.parse(this.#params.get(id)!.params) as Record<string, unknown>) : summaryParams;
    if (omitted.includes('params')) room -= Buffer.byteLength(JSON.stringify(summaryParams));
    const output = fits('output', row.output_bytes) ? (JSON.parse(this.#output.get(id)!.output) as Record<string, unknown>) : null;
    const signedResult = fits('signedResult', envelopeBytes(row.result_bytes)) ? envelope(this.#signedResult.get(id)) : null;
    const signedIntent = fits('signedIntent', envelopeBytes(row.intent_bytes)) ? envelope(this.#signedIntent.get(id)) : null;
    return { ...base, params, output, signedResult, signedIntent, omitted };
  }

  inFlight(agent: string): IntentView[] {
    return this.#inFlight.all(agent).map(toView);
  }

  /** The agents holding an intent not final yet: at start, one query instead of one per registered agent. */
  agentsWithIntentsInFlight(): string[] {
    return this.#agentsInFlight.all().map((r) => r.agent_did);
  }

  /** Intents sent to an agent since a time and not refused by it (the broker's view of the hourly rate). */
  sentSince(agent: string, since: number): number {
    return this.#window.countSince(agent, since);
  }

  /** The row changed as `change` says: the open view follows it (a row sent by an earlier process is read back). */
  #update(id: string, change: Partial<IntentView>, final: boolean): IntentView {
    const open = this.#open.get(id);
    const view = open ? { ...open, ...change } : this.get(id)!;
    if (final) this.#open.delete(id);
    else this.#open.set(id, view);
    if (view.rejectedBy === 'agent') this.#window.remove(view.agent, id);
    return view;
  }
}

/** Columns a new row leaves empty. */
const unset = { outcome: null, reason: null, rejectedBy: null, message: null, payload: null, signature: null };

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
