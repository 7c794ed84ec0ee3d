import { learnFromChain, NOTHING_LEARNT, type LearntRevocations, type VerifiedChain } from './broker-chain';

/**
 * What a user's client has learnt about a root's brokers (revocations,
 * superseded ids, the newest certificate serial) for as long as it lives, so
 * that a broker id it has seen replaced is refused on the next connection of
 * the same session, not only on the one that taught it. The agent keeps the
 * same knowledge on disk (agent/broker-trust.ts); both learn through
 * learnFromChain, so they cannot drift.
 */
export class TrustMemory {
  #learnt: LearntRevocations = NOTHING_LEARNT;

  get learnt(): LearntRevocations {
    return this.#learnt;
  }

  learn(chain: VerifiedChain | null): void {
    if (!chain) return;
    this.#learnt = learnFromChain(this.#learnt, chain) ?? this.#learnt;
  }
}

/** One per process: a CLI run, or the extension host for the life of the VS Code window. */
export const SESSION_TRUST = new TrustMemory();
