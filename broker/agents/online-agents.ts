import type { AgentConnection } from '../hub/agent-connection';

/** Authenticated connections by agent DID. A newer connection of the same agent replaces the older one. */
export class OnlineAgents {
  readonly #byDid = new Map<string, AgentConnection>();
  /**
   * Agents other nodes of a cluster said they hold (agentBack, a presence answer), with the node run holding each:
   * what this node's views show as online too, until that node says otherwise or falls silent.
   */
  readonly #elsewhere = new Map<string, string>();

  /** Connected here or, in a cluster, to another node as far as this node heard. */
  isOnlineAnywhere(did: string): boolean {
    return this.#byDid.has(did) || this.#elsewhere.has(did);
  }

  /** Held by node run `node` as far as this node heard, or (undefined) by no other node. */
  heldElsewhere(did: string, node: string | undefined): void {
    if (node !== undefined) this.#elsewhere.set(did, node);
    else this.#elsewhere.delete(did);
  }

  /** The agents this node last heard node run `node` holds. */
  heldOn(node: string): string[] {
    return [...this.#elsewhere].filter(([, holder]) => holder === node).map(([did]) => did);
  }

  get(did: string): AgentConnection | undefined {
    return this.#byDid.get(did);
  }

  isOnline(did: string): boolean {
    return this.#byDid.has(did);
  }

  /** Returns the connection it replaced, if any. */
  add(did: string, connection: AgentConnection): AgentConnection | undefined {
    const previous = this.#byDid.get(did);
    this.#byDid.set(did, connection);
    this.#elsewhere.delete(did);
    return previous === connection ? undefined : previous;
  }

  /** Removes the connection only if it is still the current one for its agent. */
  remove(did: string, connection: AgentConnection): boolean {
    if (this.#byDid.get(did) !== connection) return false;
    this.#byDid.delete(did);
    return true;
  }

  all(): AgentConnection[] {
    return [...this.#byDid.values()];
  }

  get size(): number {
    return this.#byDid.size;
  }
}
