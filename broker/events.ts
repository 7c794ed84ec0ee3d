import { EventEmitter } from 'node:events';
import type { NotificationName, NotificationParams } from '../core/rpc/rpc-contract';
import type { IntentView } from '../core/rpc/views';
import type { SealedEnvelope } from '../core/identity';

/** The one view a notification's params wrap ({ agent }, { user }…). */
type Wrapped<K extends NotificationName> = NotificationParams<K>[keyof NotificationParams<K>];

/** Where the broker's event carries more than its notification: the bindings of broker/rpc/rpc-handlers.ts take it down to the wire's shape. */
interface Richer {
  /** The full view (output, envelopes): the broker's own listeners read it, clients are sent its summary. */
  intentChanged: IntentView;
  /**
   * `user` (the requester) and `agent` route the event (ProgressAudience); clients get the rest. `envelope` is the
   * agent's signed progress, what other nodes of a cluster are told (they check it against the agent's key).
   */
  intentProgress: NotificationParams<'intentProgress'> & { user: string; agent: string; envelope?: SealedEnvelope };
}

/**
 * What the broker tells its clients: one event per notification of the method table (core/rpc/methods.ts),
 * derived from it, so a notification added there is an event here, and every RPC connection forwards it.
 */
export type BrokerEvents = { [K in NotificationName]: [K extends keyof Richer ? Richer[K] : Wrapped<K>] };
export type BrokerEvent<K extends NotificationName> = BrokerEvents[K][0];

/**
 * The broker's event bus, typed per event: one payload each. A plain EventEmitter inside, so a generic
 * subscriber (every RPC connection forwards every event) is checked by the compiler without casts.
 *
 * Two audiences: `on` hears what happened on this node (its metrics, webhooks, its own follow-ups, and the cluster
 * bus that tells the other nodes); `onClient` hears that and what other nodes of a cluster said happened there
 * (`fromPeer`), re-read from the database: every client sees the whole cluster, and nothing is counted twice.
 */
export class BrokerEventBus {
  // One listener per connected client; a team broker can have many.
  readonly #emitter = new EventEmitter().setMaxListeners(0);
  readonly #clients = new EventEmitter().setMaxListeners(0);

  emit<K extends NotificationName>(event: K, payload: BrokerEvent<K>): void {
    this.#emitter.emit(event, payload);
    this.#clients.emit(event, payload);
  }

  /** What another node of the cluster did, for this node's clients only. */
  fromPeer<K extends NotificationName>(event: K, payload: BrokerEvent<K>): void {
    this.#clients.emit(event, payload);
  }

  on<K extends NotificationName>(event: K, listener: (payload: BrokerEvent<K>) => void): void {
    this.#emitter.on(event, listener);
  }

  off<K extends NotificationName>(event: K, listener: (payload: BrokerEvent<K>) => void): void {
    this.#emitter.off(event, listener);
  }

  onClient<K extends NotificationName>(event: K, listener: (payload: BrokerEvent<K>) => void): void {
    this.#clients.on(event, listener);
  }

  offClient<K extends NotificationName>(event: K, listener: (payload: BrokerEvent<K>) => void): void {
    this.#clients.off(event, listener);
  }
}
