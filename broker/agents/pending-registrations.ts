import type pino from 'pino';
import { BUDGETS } from '../../core/budgets';
import { guarded } from '../../core/io/guarded';
import { CloseCode } from '../../core/wire/close-codes';
import type { AgentRegistry } from '../store/agent-registry';
import type { OnlineAgents } from './online-agents';
import { audit } from '../audit/audit-log';

export interface PendingLimits {
  /** Pending registrations from all addresses. */
  total: number;
  /** Pending registrations made from one address since the broker started. */
  perAddress: number;
  /** From a registration's first handshake to its removal, if no one decided. */
  lifetimeMs: number;
}

export const DEFAULT_PENDING_LIMITS: PendingLimits = {
  total: BUDGETS.pendingRegistrations.limit,
  perAddress: BUDGETS.pendingRegistrationsPerAddress.limit,
  lifetimeMs: BUDGETS.pendingRegistrationMs.limit,
};

/** Longest wait between two sweeps of expired registrations (a new registration sweeps first too). */
const SWEEP_EVERY_MS = 60_000;

/**
 * The budget of registrations no one has decided on. Any key can register, so without it a stranger grows
 * the registry (and every admin's list) without bound: new registrations are refused past a global cap and a
 * cap per remote address, and a pending registration is removed, audited, when its lifetime ends.
 *
 * The address is only a key for counting (NAT, proxies and 127.0.0.0/8 make it worthless as an identity): it
 * is kept in memory, never stored with the agent nor shown as anything about it. After a restart the counts
 * per address start again; the global cap, read from the database, still holds.
 */
export class PendingRegistrations {
  /** Agents registered from each address that may still be pending. */
  readonly #byAddress = new Map<string, Set<string>>();
  /** The address each of those registrations came from, so that an expired one leaves its address's set at once. */
  readonly #addressOf = new Map<string, string>();
  readonly #sweep: NodeJS.Timeout;

  constructor(
    private readonly registry: AgentRegistry,
    private readonly online: OnlineAgents,
    private readonly log: pino.Logger,
    private readonly now: () => number,
    private readonly limits: PendingLimits = DEFAULT_PENDING_LIMITS,
  ) {
    this.#sweep = setInterval(
      guarded((err) => audit(log).error('registration.expiry-failed', { err: (err as Error).message }, 'could not expire pending registrations'), () => this.expire()),
      Math.min(SWEEP_EVERY_MS, limits.lifetimeMs),
    );
    this.#sweep.unref();
  }

  /** Asked before a new agent is certified: whether one more pending registration from `address` fits. */
  async room(address: string): Promise<{ ok: true } | { ok: false; message: string }> {
    await this.expire();
    if ((await this.registry.countPending()) >= this.limits.total) {
      return { ok: false, message: `registration-full: ${this.limits.total} registrations already await a decision; try again later` };
    }
    // Pruned only when the address looks full: a scan per registration would cost O(pending²) on one busy address.
    const made = this.#byAddress.get(address)?.size ?? 0;
    if (made >= this.limits.perAddress && (await this.#stillPending(address)).size >= this.limits.perAddress) {
      return { ok: false, message: `registration-full: ${this.limits.perAddress} registrations from this address already await a decision` };
    }
    return { ok: true };
  }

  /** A new pending registration was recorded for `did`, made from `address`. */
  created(did: string, address: string): void {
    const dids = this.#byAddress.get(address) ?? new Set<string>();
    dids.add(did);
    this.#byAddress.set(address, dids);
    this.#addressOf.set(did, address);
  }

  /** Removes the registrations whose lifetime ended, each audited; their agents' connections end. */
  async expire(): Promise<void> {
    const removed = await this.registry.removePendingSeenBy(this.now() - this.limits.lifetimeMs);
    for (const { did, name } of removed) {
      audit(this.log).info('registration.expired', { did, name, lifetimeMs: this.limits.lifetimeMs }, 'pending registration expired undecided; removed');
      this.online.get(did)?.close(CloseCode.AuthRefused, 'registration expired');
      this.#forget(did);
    }
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  /** Drops the agents that left pending (approved, rejected, expired): what is left is what counts. */
  async #stillPending(address: string): Promise<Set<string>> {
    const dids = this.#byAddress.get(address);
    if (!dids) return new Set();
    for (const did of [...dids]) if ((await this.registry.get(did))?.status !== 'pending') this.#forget(did);
    return this.#byAddress.get(address) ?? new Set();
  }

  /**
   * Drops `did` from the counts. Registrations leave them when they expire, or when their address looks full and
   * is pruned (approved or rejected ones): what strangers registered over the broker's lifetime, from addresses
   * they rotate through, is not kept in memory once it expired.
   */
  #forget(did: string): void {
    const address = this.#addressOf.get(did);
    if (address === undefined) return;
    this.#addressOf.delete(did);
    const dids = this.#byAddress.get(address);
    dids?.delete(did);
    if (dids?.size === 0) this.#byAddress.delete(address);
  }
}
