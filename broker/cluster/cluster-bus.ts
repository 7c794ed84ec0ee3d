import { setTimeout as sleep } from 'node:timers/promises';
import { BUDGETS } from '../../core/budgets';
import type { AgentDelivery, ClusterBroadcast, DeliveryReply } from '../../core/cluster/cluster-messages';
import type { OnlineAgents } from '../agents/online-agents';

/**
 * How one broker node reaches the others (issue 20). A single broker uses SingleNodeBus (nobody else to tell); a
 * cluster uses NatsBus. Every handler is called with a message already decoded and checked against its schema
 * (core/cluster/cluster-messages.ts, within BUDGETS.clusterMessageBytes); a handler that throws or rejects is
 * audited by the bus, never thrown into NATS's callback.
 */
export interface ClusterBus {
  /** This node's name (audit lines, metrics, the cluster's logs). */
  readonly nodeName: string;
  /** Whether the bus is reachable now (readiness): a node without it refuses new work that needs another node. */
  readonly connected: boolean;
  /** To every other node; fire and forget (lost while the bus is down: every message is a hint or re-sent). */
  broadcast(message: ClusterBroadcast): void;
  /** What other nodes broadcast (never this node's own). */
  onBroadcast(handler: (message: ClusterBroadcast) => void | Promise<void>): void;
  /**
   * To the node serving `agentDid`, if any: its reply (checked against DeliveryReply), `absent` when no node serves
   * it (no responder), `failed` when the bus is down, the reply is not one, or the holder did not answer within `timeoutMs`.
   */
  deliver(agentDid: string, message: AgentDelivery, timeoutMs?: number): Promise<DeliveryReply | 'absent' | 'failed'>;
  /** This node holds `agentDid`'s connection: deliveries for it come here until the returned function is called. */
  serveAgent(agentDid: string, handler: (message: AgentDelivery) => Promise<DeliveryReply>): () => void;
  close(): Promise<void>;
}

/** Whether a delivery reached the agent: its holder took it. */
export function delivered(outcome: DeliveryReply | 'absent' | 'failed'): outcome is DeliveryReply & { ok: true } {
  return typeof outcome === 'object' && outcome.ok;
}

/** Between two tries of deliverToHolder. */
const HOLDER_RETRY_MS = 200;

/**
 * A delivery whose loss nobody would see (a reviewer's decision, a cancel): tried again, within
 * BUDGETS.clusterDeliveryMs, while no node answers for an agent this node last heard was connected to another. After
 * a bus outage each node resubscribes when its own client reconnects, so the holder may answer a moment after this
 * node is back; an agent that really left is absent at once for good, and costs that bound at most.
 */
export async function deliverToHolder(bus: ClusterBus, online: OnlineAgents, agentDid: string, message: AgentDelivery): Promise<DeliveryReply | 'absent' | 'failed'> {
  const deadline = Date.now() + BUDGETS.clusterDeliveryMs.limit;
  for (;;) {
    const outcome = await bus.deliver(agentDid, message);
    if (outcome !== 'absent' || !online.isOnlineAnywhere(agentDid) || Date.now() + HOLDER_RETRY_MS >= deadline) return outcome;
    await sleep(HOLDER_RETRY_MS);
  }
}

/**
 * Why this node refuses work that needs another node while its bus is down (NatsBus reconnects by itself): said to
 * the user whose dispatch or decision it refuses, and by /readyz.
 */
export const CLUSTER_BUS_DOWN = 'the cluster bus (NATS) is down on this broker node: it cannot reach the other nodes';
