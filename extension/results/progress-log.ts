import { BUDGETS } from '../../core/budgets';
import type { ProgressEntry } from './result-view-model';

/** Intents whose progress is kept: the result view shows one at a time, the ones before it stay for a click back. */
const KEPT_INTENTS = 16;

interface Kept {
  entries: ProgressEntry[];
  bytes: number;
  dropped: boolean;
}

/**
 * The progress of recent intents, as the broker streams it (vaultysclaw/intents/progress): the notifications carry
 * it once and intents/get does not, so the result view keeps it here. An agent streams as much as it likes:
 * each intent keeps at most BUDGETS.resultProgressBytes, oldest text dropped first.
 */
export class ProgressLog {
  readonly #kept = new Map<string, Kept>();
  readonly #listeners = new Set<(intentId: string) => void>();

  add(progress: { intentId: string; seq: number; stream: ProgressEntry['stream']; text: string }): void {
    const { intentId, seq, stream, text } = progress;
    let kept = this.#kept.get(intentId);
    if (kept) this.#kept.delete(intentId);
    else kept = { entries: [], bytes: 0, dropped: false };
    // Most recently added last, so the first key is the one to forget.
    this.#kept.set(intentId, kept);
    while (this.#kept.size > KEPT_INTENTS) this.#kept.delete(this.#kept.keys().next().value!);
    if (kept.entries.some((e) => e.seq === seq)) return;
    kept.entries.push({ seq, stream, text });
    kept.bytes += Buffer.byteLength(text, 'utf8');
    while (kept.bytes > BUDGETS.resultProgressBytes.limit && kept.entries.length > 0) {
      const oldest = kept.entries.reduce((a, b) => (b.seq < a.seq ? b : a));
      kept.entries.splice(kept.entries.indexOf(oldest), 1);
      kept.bytes -= Buffer.byteLength(oldest.text, 'utf8');
      kept.dropped = true;
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener(intentId);
      } catch {
        // Called from the connection's notification handler: one failing view must not stop the others or it.
      }
    }
  }

  entries(intentId: string): readonly ProgressEntry[] {
    return this.#kept.get(intentId)?.entries ?? [];
  }

  bytes(intentId: string): number {
    return this.#kept.get(intentId)?.bytes ?? 0;
  }

  /** Some of this intent's progress was dropped to stay within the budget. */
  dropped(intentId: string): boolean {
    return this.#kept.get(intentId)?.dropped ?? false;
  }

  onDidAdd(listener: (intentId: string) => void): { dispose(): void } {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }
}
