import { BUDGETS } from '../../core/budgets';
import type { MethodName } from '../../core/rpc/methods';

/** What a request costs in units of BUDGETS.rpcRequestUnitsPerSecond: the calls that evaluate an agent's rules cost more. */
const UNITS: Partial<Record<MethodName, number>> = { intentsDispatch: 10, policyTest: 10 };
export const requestUnits = (method: MethodName): number => UNITS[method] ?? 1;

/** Past this many users seen in the current second, windows of earlier seconds are dropped (users are few; this bounds a map). */
const PRUNE_AT = 1024;

/** admitted; refused, first time this second (audit it); refused again this second (an audit line each would be a flood of its own). */
export type RateVerdict = 'admitted' | 'refused-first' | 'refused';

/**
 * Every request of an authenticated user, counted per user across all their sessions and transports (one-second
 * windows), so a viewer cannot keep the broker's one event loop busy with valid requests, nor a dispatcher with
 * rule evaluations, and opening more sessions buys nothing.
 */
export class UserRequestRate {
  readonly #windows = new Map<string, { second: number; used: number }>();

  constructor(
    private readonly now: () => number,
    private readonly limit: number = BUDGETS.rpcRequestUnitsPerSecond.limit,
  ) {}

  take(did: string, units: number): RateVerdict {
    const second = Math.floor(this.now() / 1000);
    let window = this.#windows.get(did);
    if (!window || window.second !== second) {
      if (this.#windows.size >= PRUNE_AT) for (const [key, w] of this.#windows) if (w.second !== second) this.#windows.delete(key);
      window = { second, used: 0 };
      this.#windows.set(did, window);
    }
    if (window.used + units <= this.limit) {
      window.used += units;
      return 'admitted';
    }
    // Refused requests spend the rest of the window, so the first refusal is the only one audited this second.
    const first = window.used <= this.limit;
    window.used = this.limit + 1;
    return first ? 'refused-first' : 'refused';
  }
}
