import { BUDGETS } from '../../core/budgets';
import type { RateVerdict } from './user-request-rate';

/**
 * Requests of each authenticated user being answered at once, across all their network sessions. The request rate
 * bounds how fast they come, not how many wait: while storage is slow (a PostgreSQL stall, a disk retrying) every
 * admitted request waits with its params, and one user could hold hundreds of megabytes that way. Past the bound
 * a request is refused at once; as with the rate, the first refusal of a user in a second is the one audited.
 */
export class UserRequestsInFlight {
  /** Only users with requests running: a user's entry goes with their last answer. */
  readonly #users = new Map<string, { running: number; refusedInSecond?: number }>();

  constructor(
    private readonly now: () => number,
    private readonly limit: number = BUDGETS.rpcRequestsInFlight.limit,
  ) {}

  /** A request starts; when admitted, `leave` must be called once it is answered, however it ends. */
  enter(did: string): { verdict: Exclude<RateVerdict, 'admitted'> } | { verdict: 'admitted'; leave: () => void } {
    const user = this.#users.get(did) ?? { running: 0 };
    if (user.running >= this.limit) {
      const second = Math.floor(this.now() / 1000);
      const first = user.refusedInSecond !== second;
      user.refusedInSecond = second;
      return { verdict: first ? 'refused-first' : 'refused' };
    }
    user.running++;
    this.#users.set(did, user);
    let left = false;
    return {
      verdict: 'admitted',
      leave: () => {
        if (left) return;
        left = true;
        if (--user.running === 0) this.#users.delete(did);
      },
    };
  }

  /** Requests of `did` being answered now. */
  running(did: string): number {
    return this.#users.get(did)?.running ?? 0;
  }
}
