import type pino from 'pino';
import type { OnlineAgents } from './agents/online-agents';
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
  log: pino.Logger;
  now: () => number;
}
