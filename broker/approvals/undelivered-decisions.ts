import type pino from 'pino';
import { BUDGETS } from '../../core/budgets';
import { guarded } from '../../core/io/guarded';
import type { ApprovalDecisionBundle } from '../../core/wire/approval';
import { audit } from '../audit/audit-log';

/** Between two tries of what is kept. */
const RETRY_MS = 1_000;

/** What one try of a kept decision gave: taken by the node holding the agent, no node holds it, or no answer. */
export type DecisionHandOver = 'taken' | 'absent' | 'failed';

interface Kept {
  requestId: string;
  agent: string;
  bundle: ApprovalDecisionBundle;
  expiresAt: number;
}

/**
 * Reviewers' decisions recorded on this node that the node holding their agent did not take: the cluster bus was
 * down, or the holder did not answer within BUDGETS.clusterDeliveryMs. Without this, such a decision was recorded
 * and never sent, and the agent's call waited until its request expired. Each is sent again every RETRY_MS until it
 * is taken, no node holds the agent (its waiting call ended with its connection), or its request expires. The agent
 * counts a reviewer once, so a decision that arrives twice changes nothing. At most
 * BUDGETS.undeliveredDecisions are kept; past it the oldest is given up, audited.
 */
export class UndeliveredDecisions {
  readonly #kept = new Map<string, Kept>();
  #timer: NodeJS.Timeout | undefined;
  #trying = false;

  constructor(
    private readonly handOver: (agent: string, bundle: ApprovalDecisionBundle) => Promise<DecisionHandOver>,
    private readonly now: () => number,
    private readonly log: pino.Logger,
    private readonly node: string,
  ) {}

  keep(requestId: string, reviewer: string, agent: string, bundle: ApprovalDecisionBundle, expiresAt: number): void {
    if (this.#kept.size >= BUDGETS.undeliveredDecisions.limit) {
      const [oldestKey, oldest] = this.#kept.entries().next().value as [string, Kept];
      this.#kept.delete(oldestKey);
      audit(this.log).warn('approval.undelivered', { requestId: oldest.requestId, agent: oldest.agent, node: this.node, outcome: 'given-up' }, 'an undelivered decision given up: too many kept');
    }
    this.#kept.set(`${requestId}/${reviewer}`, { requestId, agent, bundle, expiresAt });
    audit(this.log).warn('approval.undelivered', { requestId, agent, node: this.node, outcome: 'kept' }, 'decision recorded, not taken by the node holding the agent: sent again until taken');
    this.#timer ??= setInterval(
      guarded((err) => audit(this.log).error('broker.internal-error', { what: 'undelivered decisions', err: (err as Error)?.message ?? String(err) }, 'could not send a kept decision again'), () => this.#tryAll()),
      RETRY_MS,
    ).unref();
  }

  get size(): number {
    return this.#kept.size;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #tryAll(): Promise<void> {
    if (this.#trying) return;
    this.#trying = true;
    try {
      for (const [key, kept] of [...this.#kept]) {
        if (!(this.now() < kept.expiresAt)) {
          this.#kept.delete(key);
          continue;
        }
        const outcome = await this.handOver(kept.agent, kept.bundle);
        if (outcome === 'failed') continue;
        this.#kept.delete(key);
        if (outcome === 'taken') audit(this.log).info('approval.redelivered', { requestId: kept.requestId, agent: kept.agent, node: this.node }, 'a kept decision taken by the node holding the agent');
      }
    } finally {
      this.#trying = false;
      if (this.#kept.size === 0) this.close();
    }
  }
}
