import type { IntentState, IntentView } from '../../core/rpc/views';
import type { SealedEnvelope } from '../../core/identity';
import type { IntentBody, ResultBody } from '../../core/wire/intent';
import type { BrokerDatabase } from './database';

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
}

const b64 = (b: Buffer | null) => (b ? b.toString('base64') : null);

function toView(row: IntentRow): IntentView {
  const signed = (payload: Buffer | null, signature: Buffer | null) =>
    payload && signature ? { payload: b64(payload)!, signature: b64(signature)! } : null;
  return {
    id: row.id,
    agent: row.agent_did,
    capability: row.capability as IntentView['capability'],
    params: JSON.parse(row.params) as Record<string, unknown>,
    user: row.user_did,
    state: row.state,
    outcome: row.outcome as IntentView['outcome'],
    reason: row.reason as IntentView['reason'],
    rejectedBy: row.rejected_by as IntentView['rejectedBy'],
    message: row.message,
    output: row.output ? (JSON.parse(row.output) as Record<string, unknown>) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    signedIntent: signed(row.intent_payload, row.intent_signature),
    signedResult: signed(row.result_payload, row.result_signature),
  };
}

function resultColumns(result: ResultBody, envelope: SealedEnvelope, now: number) {
  return {
    id: result.intentId,
    outcome: result.outcome,
    reason: result.reason,
    rejectedBy: result.outcome === 'rejected' ? 'agent' : null,
    message: result.message,
    output: result.output ? JSON.stringify(result.output) : null,
    resultPayload: Buffer.from(envelope.payload),
    resultSignature: Buffer.from(envelope.signature),
    now,
  };
}

/** Every intent and its outcome, persisted from the moment it is signed. */
export class IntentStore {
  readonly #insert;
  readonly #get;
  readonly #finish;
  readonly #setState;
  readonly #late;
  readonly #listAll;
  readonly #listAgent;
  readonly #inFlight;
  readonly #executedSince;

  constructor(db: BrokerDatabase) {
    this.#insert = db.prepare(
      `INSERT INTO intents (id, agent_did, capability, params, user_did, state, outcome, reason, rejected_by, message,
         intent_payload, intent_signature, created_at, updated_at)
       VALUES (@id, @agent, @capability, @params, @user, @state, @outcome, @reason, @rejectedBy, @message, @payload, @signature, @now, @now)`,
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
       WHERE id = @id AND state = 'lost-agent' AND result_payload IS NULL`,
    );
    this.#setState = db.prepare(`UPDATE intents SET state = @state, updated_at = @now WHERE id = @id AND state IN ('sent', 'running')`);
    this.#listAll = db.prepare<[number], IntentRow>('SELECT * FROM intents ORDER BY created_at DESC, rowid DESC LIMIT ?');
    this.#listAgent = db.prepare<[string, number], IntentRow>(
      'SELECT * FROM intents WHERE agent_did = ? ORDER BY created_at DESC, rowid DESC LIMIT ?',
    );
    this.#inFlight = db.prepare<[string], IntentRow>(`SELECT * FROM intents WHERE agent_did = ? AND state IN ('sent', 'running')`);
    this.#executedSince = db.prepare<[string, number], { n: number }>(
      `SELECT COUNT(*) AS n FROM intents WHERE agent_did = ? AND created_at > ? AND rejected_by IS NULL`,
    );
  }

  /** Records an intent the broker signed and is about to send. */
  recordSent(intent: IntentBody, envelope: SealedEnvelope, now: number): IntentView {
    this.#insert.run({
      id: intent.id,
      agent: intent.agent,
      capability: intent.capability,
      params: JSON.stringify(intent.params),
      user: intent.user,
      state: 'sent',
      outcome: null,
      reason: null,
      rejectedBy: null,
      message: null,
      payload: Buffer.from(envelope.payload),
      signature: Buffer.from(envelope.signature),
      now,
    });
    return this.get(intent.id)!;
  }

  /** Records an intent the broker refused before signing anything (defence in depth); it is final at once. */
  recordRefused(intent: IntentBody, reason: IntentView['reason'], message: string, now: number): IntentView {
    this.#insert.run({
      id: intent.id,
      agent: intent.agent,
      capability: intent.capability,
      params: JSON.stringify(intent.params),
      user: intent.user,
      state: 'rejected',
      outcome: 'rejected',
      reason,
      rejectedBy: 'broker',
      message,
      payload: null,
      signature: null,
      now,
    });
    return this.get(intent.id)!;
  }

  markRunning(id: string, now: number): boolean {
    return this.#setState.run({ id, state: 'running', now }).changes === 1;
  }

  /** Records the agent's verified result. Returns false if the intent was already final (a duplicate). */
  recordResult(result: ResultBody, envelope: SealedEnvelope, now: number): boolean {
    return this.#finish.run({ ...resultColumns(result, envelope, now), state: result.outcome }).changes === 1;
  }

  /**
   * A verified result for an intent already final as lost-agent (its agent came
   * back after the grace period): the signed answer is kept and shown, the
   * state stays the one final state it was given. False if there is nothing to add.
   */
  recordLateResult(result: ResultBody, envelope: SealedEnvelope, now: number): boolean {
    return this.#late.run(resultColumns(result, envelope, now)).changes === 1;
  }

  /** Ends an in-flight intent whose agent went away before answering. */
  markLost(id: string, message: string, now: number): boolean {
    return (
      this.#finish.run({
        id,
        state: 'lost-agent',
        outcome: null,
        reason: null,
        rejectedBy: null,
        message,
        output: null,
        resultPayload: null,
        resultSignature: null,
        now,
      }).changes === 1
    );
  }

  get(id: string): IntentView | undefined {
    const row = this.#get.get(id);
    return row ? toView(row) : undefined;
  }

  list(agent: string | undefined, limit: number): IntentView[] {
    return (agent ? this.#listAgent.all(agent, limit) : this.#listAll.all(limit)).map(toView);
  }

  inFlight(agent: string): IntentView[] {
    return this.#inFlight.all(agent).map(toView);
  }

  /** Intents sent to an agent since a time (the broker's view of the hourly rate). */
  sentSince(agent: string, since: number): number {
    return this.#executedSince.get(agent, since)?.n ?? 0;
  }
}
