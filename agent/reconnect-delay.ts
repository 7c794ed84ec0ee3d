/** RFC 6455 "going away": what a broker sends every agent when it shuts down. */
export const CLOSE_GOING_AWAY = 1001;

export interface ReconnectPolicy {
  minMs: number;
  maxMs: number;
  /** After a broker's 1001, the first retry falls anywhere up to this, so a fleet does not stampede its restart. */
  goingAwaySpreadMs: number;
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { minMs: 500, maxMs: 30_000, goingAwaySpreadMs: 2_000 };

/**
 * Exponential backoff with full jitter: the `attempt`-th retry in a row
 * (from 0) waits between minMs/2 and min(maxMs, minMs * 2^attempt).
 */
export function reconnectDelay(attempt: number, closeCode: number, p: ReconnectPolicy = DEFAULT_RECONNECT): number {
  const ceiling = attempt === 0 && closeCode === CLOSE_GOING_AWAY ? Math.max(p.minMs, p.goingAwaySpreadMs) : Math.min(p.maxMs, p.minMs * 2 ** Math.min(attempt, 16));
  return Math.round(p.minMs / 2 + Math.random() * (ceiling - p.minMs / 2));
}
