import { BUDGETS } from '../../core/budgets';

export interface ConnectionLimits {
  unauthenticatedPerAddress: number;
  unauthenticated: number;
  authenticatedPerAddress: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  unauthenticatedPerAddress: BUDGETS.unauthenticatedSocketsPerAddress.limit,
  unauthenticated: BUDGETS.unauthenticatedSockets.limit,
  authenticatedPerAddress: BUDGETS.authenticatedSocketsPerAddress.limit,
};

export type CapRefusal = 'too-many-unauthenticated-from-address' | 'too-many-unauthenticated' | 'too-many-from-address';

/** One TCP connection's place in the counts: a stranger until its session authenticates, released once. */
export interface ConnectionSlot {
  readonly address: string;
  authenticated: boolean;
  released: boolean;
}

/**
 * Counts of the hub's sockets, so that neither one address nor strangers as a whole can hold every file
 * descriptor the broker has: a stranger's socket costs a slot from the moment TCP accepts it until it has
 * authenticated, with a small budget per address and a global one; an authenticated socket moves to a far
 * larger budget per address (a fleet of honest agents on one host, or on 127.0.0.1 in tests, shares an address).
 */
export class ConnectionCaps {
  readonly #unauthenticated = new Map<string, number>();
  readonly #authenticated = new Map<string, number>();
  #unauthenticatedTotal = 0;

  constructor(private readonly limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS) {}

  /** A new TCP connection: its slot, or why it is refused. */
  accept(address: string): { ok: true; slot: ConnectionSlot } | { ok: false; reason: CapRefusal } {
    if (this.#unauthenticatedTotal >= this.limits.unauthenticated) return { ok: false, reason: 'too-many-unauthenticated' };
    if ((this.#unauthenticated.get(address) ?? 0) >= this.limits.unauthenticatedPerAddress) {
      return { ok: false, reason: 'too-many-unauthenticated-from-address' };
    }
    increment(this.#unauthenticated, address);
    this.#unauthenticatedTotal++;
    return { ok: true, slot: { address, authenticated: false, released: false } };
  }

  /** The slot's session authenticated: it leaves the strangers' budget, or is refused when its address has no room. */
  promote(slot: ConnectionSlot): { ok: true } | { ok: false; reason: CapRefusal } {
    if (slot.released || slot.authenticated) return { ok: true };
    if ((this.#authenticated.get(slot.address) ?? 0) >= this.limits.authenticatedPerAddress) return { ok: false, reason: 'too-many-from-address' };
    this.#releaseStranger(slot.address);
    increment(this.#authenticated, slot.address);
    slot.authenticated = true;
    return { ok: true };
  }

  release(slot: ConnectionSlot): void {
    if (slot.released) return;
    slot.released = true;
    if (slot.authenticated) decrement(this.#authenticated, slot.address);
    else this.#releaseStranger(slot.address);
  }

  #releaseStranger(address: string): void {
    decrement(this.#unauthenticated, address);
    this.#unauthenticatedTotal--;
  }
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

/** Entries at zero are dropped: addresses seen once cannot grow the map. */
function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left > 0) counts.set(key, left);
  else counts.delete(key);
}
