import { BUDGETS } from '../../core/budgets';

/** A progress event as the broker routes it: who asked for the intent decides who hears about it. */
export interface ProgressEvent {
  intentId: string;
  /** The requesting user's DID. */
  user: string;
}

/**
 * Which progress events one user session receives (finding 14d). Broadcasting every agent's stdout to every
 * session let one busy agent multiply its output by the number of sessions, and showed every user's commands
 * to everyone. A session hears the intents its user asked for, and the intents it reads (intentsGet) — the
 * most recent BUDGETS.progressWatchesPerSession of them, so a session cannot subscribe itself to everything.
 */
export class ProgressAudience {
  /** Insertion-ordered: the first entry is the watch least recently renewed, dropped first. */
  readonly #watching = new Set<string>();

  constructor(private readonly user: () => string | undefined) {}

  watch(intentId: string): void {
    this.#watching.delete(intentId);
    this.#watching.add(intentId);
    if (this.#watching.size > BUDGETS.progressWatchesPerSession.limit) this.#watching.delete(this.#watching.values().next().value!);
  }

  wants(event: ProgressEvent): boolean {
    return event.user === this.user() || this.#watching.has(event.intentId);
  }
}
