import type pino from 'pino';
import type { OnlineAgents } from './agents/online-agents';
import type { ClusterBus } from './cluster/cluster-bus';
import type { BrokerEventBus } from './events';
import type { ActiveIdentity } from './identity/active-identity';

/**
 * The broker-wide pieces Broker builds once and hands to its services: each service's constructor takes one
 * object (this, picked, plus its own stores and settings), never a row of positional parameters that a new
 * dependency would shift.
 */
export interface BrokerContext {
  keys: ActiveIdentity;
  online: OnlineAgents;
  events: BrokerEventBus;
  /** The other broker nodes of a cluster (SingleNodeBus when there are none). */
  cluster: ClusterBus;
  log: pino.Logger;
  now: () => number;
}
