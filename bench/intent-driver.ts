/**
 * The load generator of the broker benchmark: dispatches intents over the
 * broker's JSON-RPC (the local socket, authenticated as the host's operator,
 * i.e. an owner) and completes each one when the broker notifies its final
 * state on 'vaultysclaw/intents/changed'. One connection, as one editor or CLI
 * would have; the dispatch result is not re-validated with zod on this side
 * (the broker's work is the same; the bench's CPU is spared).
 *
 * Latency of an intent = from just before the dispatch request is written to
 * the arrival of the notification of its final state, measured with
 * performance.now() in this process.
 */
import { performance } from 'node:perf_hooks';
import type { BrokerClient } from '../broker/cli/broker-client';
import { Methods, Notifications } from '../core/rpc/methods';

const FINAL = new Set(['succeeded', 'failed', 'rejected', 'lost-agent']);
/** A dispatched intent with no final state after this long counts as 'timeout'. */
const INTENT_TIMEOUT_MS = 30_000;

export interface Outcome {
  state: string;
  reason?: string | null;
  /** Start, dispatch response and end in performance.now() milliseconds. */
  startedAt: number;
  respondedAt: number;
  endedAt: number;
}

export interface LoadResult {
  /** Intents whose final state arrived inside the window (time-boxed runs) or all of them (counted runs). */
  completed: number;
  succeeded: number;
  /** Anything but succeeded, by state (and reason), e.g. {"rejected:rate-limited": 3}. */
  problems: Record<string, number>;
  seconds: number;
  perSecond: number;
  /** Latencies (ms) of the succeeded intents counted. */
  latenciesMs: number[];
}

export class IntentDriver {
  readonly #waiting = new Map<string, (o: { state: string; reason: string | null; at: number }) => void>();
  readonly #early = new Map<string, { state: string; reason: string | null; at: number }>();
  params: Record<string, unknown> = { path: '.' };

  constructor(readonly client: BrokerClient) {
    client.connection.onNotification(Notifications.intentChanged.method, (p: { intent: { id: string; state: string; reason: string | null } }) => {
      const { id, state, reason } = p.intent;
      if (!FINAL.has(state)) return;
      const at = performance.now();
      const waiter = this.#waiting.get(id);
      if (waiter) {
        this.#waiting.delete(id);
        waiter({ state, reason, at });
      } else this.#early.set(id, { state, reason, at });
    });
  }

  /** One intent, list_files on the agent's workspace root, to its final state. */
  async dispatch(agent: string): Promise<Outcome> {
    const startedAt = performance.now();
    const view = (await this.client.connection.sendRequest(Methods.intentsDispatch.method, {
      agent,
      capability: 'list_files',
      params: this.params,
    })) as { id: string; state: string; reason: string | null };
    const respondedAt = performance.now();
    if (view.state !== 'sent') return { state: view.state, reason: view.reason, startedAt, respondedAt, endedAt: respondedAt };
    const early = this.#early.get(view.id);
    if (early) {
      this.#early.delete(view.id);
      return { state: early.state, reason: early.reason, startedAt, respondedAt, endedAt: early.at };
    }
    return new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(view.id);
        resolve({ state: 'timeout', startedAt, respondedAt, endedAt: performance.now() });
      }, INTENT_TIMEOUT_MS);
      this.#waiting.set(view.id, (o) => {
        clearTimeout(timer);
        resolve({ state: o.state, reason: o.reason, startedAt, respondedAt, endedAt: o.at });
      });
    });
  }

  /**
   * `concurrency` loops, each dispatching to the next agent (round-robin) as
   * soon as its previous intent is final. Time-boxed (`durationMs`: only
   * intents final inside the window count, the rest are awaited and dropped)
   * or counted (`count` intents in all). `minIntervalMs` spaces the starts of
   * one loop (the round trip uses one loop at most ~143 intents/s, under the
   * hub's 200 frames/s per connection).
   */
  async run(o: { agents: readonly string[]; concurrency: number; durationMs?: number; count?: number; minIntervalMs?: number; onOutcome?: (x: Outcome) => void }): Promise<LoadResult> {
    if (o.agents.length === 0) throw new Error('no agents to dispatch to');
    const start = performance.now();
    const end = o.durationMs !== undefined ? start + o.durationMs : Number.POSITIVE_INFINITY;
    let issued = 0;
    let next = 0;
    const result: LoadResult = { completed: 0, succeeded: 0, problems: {}, seconds: 0, perSecond: 0, latenciesMs: [] };
    const loop = async () => {
      for (;;) {
        if (performance.now() >= end) return;
        if (o.count !== undefined && issued >= o.count) return;
        issued++;
        const agent = o.agents[next++ % o.agents.length]!;
        const x = await this.dispatch(agent);
        o.onOutcome?.(x);
        if (x.endedAt <= end) {
          result.completed++;
          if (x.state === 'succeeded') {
            result.succeeded++;
            result.latenciesMs.push(x.endedAt - x.startedAt);
          } else {
            const key = x.reason ? `${x.state}:${x.reason}` : x.state;
            result.problems[key] = (result.problems[key] ?? 0) + 1;
          }
        }
        if (o.minIntervalMs) {
          const wait = x.startedAt + o.minIntervalMs - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, loop));
    // A time-boxed run lasts its window; a counted one (or one that ran out of count first) until its last intent.
    const stop = Math.min(end, performance.now());
    result.seconds = (stop - start) / 1000;
    result.perSecond = result.completed / result.seconds;
    return result;
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function latencySummary(latencies: readonly number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN, n: sorted.length };
}
