import type { SealedEnvelope } from '../../core/identity';
import type { AgentDatabase } from './agent-database';

/**
 * Signed results the broker has not acknowledged yet, on disk before they are
 * sent: a result survives a kill -9 of the agent and is resent after the next
 * handshake. Storing a result also marks its claimed intent id answered, in
 * the same transaction, so a claimed id with no answer is exactly an intent
 * the agent stopped while holding (see unanswered()).
 */
export class ResultOutbox {
  readonly #put;
  readonly #get;
  readonly #all;
  readonly #remove;
  readonly #unanswered;

  constructor(db: AgentDatabase) {
    const insert = db.prepare<[string, Buffer, Buffer]>('INSERT OR REPLACE INTO result_outbox (intent_id, payload, signature) VALUES (?, ?, ?)');
    const answer = db.prepare<[string]>('UPDATE seen_intents SET answered = 1 WHERE id = ?');
    this.#put = db.transaction((intentId: string, envelope: SealedEnvelope) => {
      insert.run(intentId, Buffer.from(envelope.payload), Buffer.from(envelope.signature));
      answer.run(intentId);
    });
    this.#get = db.prepare<[string], { payload: Buffer; signature: Buffer }>('SELECT payload, signature FROM result_outbox WHERE intent_id = ?');
    this.#all = db.prepare<[], { payload: Buffer; signature: Buffer }>('SELECT payload, signature FROM result_outbox ORDER BY rowid');
    this.#remove = db.prepare<[string]>('DELETE FROM result_outbox WHERE intent_id = ?');
    this.#unanswered = db.prepare<[], { id: string }>('SELECT id FROM seen_intents WHERE answered = 0 ORDER BY issued_at');
  }

  put(intentId: string, envelope: SealedEnvelope): void {
    this.#put(intentId, envelope);
  }

  get(intentId: string): SealedEnvelope | undefined {
    const row = this.#get.get(intentId);
    return row ? toEnvelope(row) : undefined;
  }

  all(): SealedEnvelope[] {
    return this.#all.all().map(toEnvelope);
  }

  /** The broker recorded it: forget it. */
  remove(intentId: string): void {
    this.#remove.run(intentId);
  }

  /** Intent ids claimed (so never to run again) that got no result: the agent stopped while holding them. */
  unanswered(): string[] {
    return this.#unanswered.all().map((r) => r.id);
  }
}

function toEnvelope(row: { payload: Buffer; signature: Buffer }): SealedEnvelope {
  return { payload: new Uint8Array(row.payload), signature: new Uint8Array(row.signature) };
}
