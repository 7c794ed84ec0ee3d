import { BUDGETS } from '../../core/budgets';

/**
 * The hints one node takes in a second that only feed its clients' views (an intent or an approval changed, an
 * agent's progress): each costs a primary-key read or a signature check, and whoever can publish on the bus chooses
 * how many come. Past BUDGETS.clusterViewHintsPerSecond the rest of that second's are dropped: a view lags until
 * the next change of that item. Hints that carry a security follow-up (a revocation, a policy, a role) are never
 * dropped here, or a flood could keep a revoked agent connected.
 */
export class ViewHintRate {
  #second = -1;
  #taken = 0;

  constructor(
    private readonly now: () => number,
    private readonly limit: number = BUDGETS.clusterViewHintsPerSecond.limit,
  ) {}

  take(): boolean {
    const second = Math.floor(this.now() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#taken = 0;
    }
    if (this.#taken >= this.limit) return false;
    this.#taken++;
    return true;
  }
}
