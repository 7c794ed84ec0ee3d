import { CloseCode } from '../core/wire/close-codes';


export interface ReconnectPolicy {
  minMs: number;
  maxMs: number;
  /**
   * When the outage began with the broker going away (a restart): the first
   * retry falls anywhere up to firstSpreadMs, so a fleet does not stampede the
   * new broker, and the next `attempts` retries wait at most ceilingMs, so the
   * fleet is not scattered over exponential delays by the seconds a restart
   * takes. Past those, the usual exponential backoff.
   */
  restart: { firstSpreadMs: number; ceilingMs: number; attempts: number };
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { minMs: 500, maxMs: 30_000, restart: { firstSpreadMs: 2_000, ceilingMs: 4_000, attempts: 10 } };

/**
 * Delays between reconnection attempts: exponential with full jitter (the
 * n-th retry in a row waits between minMs/2 and min(maxMs, minMs * 2^n)),
 * shaped as ReconnectPolicy.restart says after a broker's 1001.
 */
export class ReconnectBackoff {
  #attempt = 0;
  #afterRestart = false;

  constructor(private readonly policy: ReconnectPolicy = DEFAULT_RECONNECT) {}

  /** The delay before the next attempt, after a close with `closeCode`. */
  next(closeCode: number): number {
    const { minMs, maxMs, restart } = this.policy;
    if (this.#attempt === 0) this.#afterRestart = closeCode === CloseCode.GoingAway;
    const attempt = this.#attempt++;
    const exponential = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 16));
    let ceiling = exponential;
    if (this.#afterRestart && attempt < restart.attempts) {
      ceiling = attempt === 0 ? Math.max(minMs, restart.firstSpreadMs) : Math.min(exponential, restart.ceilingMs);
    }
    return Math.round(minMs / 2 + Math.random() * (ceiling - minMs / 2));
  }

  /** Authenticated again: the next outage starts from the first attempt. */
  reset(): void {
    this.#attempt = 0;
  }
}
