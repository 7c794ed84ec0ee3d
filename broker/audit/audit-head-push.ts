import type pino from 'pino';
import { guarded } from '../../core/io/guarded';
import { readsAuditHead } from '../../core/wire/hub-messages';
import type { Broker } from '../broker';
import type { AgentConnection } from '../hub/agent-connection';
import { CHECKPOINT_EVENT } from './chain';
import type { AppendedEntry, ChainedDestination } from './chained-destination';
import { lastCheckpointIn, type Head } from './last-checkpoint';
import { audit } from './audit-log';

/** At most one head per connection this often: a checkpoint every 100 lines of a busy broker is not a frame each. */
const AUDIT_HEAD_INTERVAL_MS = 5_000;


/**
 * Hands each connected agent the broker's latest signed checkpoint, which the agent keeps (agent/audit-head-store.ts):
 * every agent becomes a witness of the broker's audit log, off the broker host, for free. Sent once after each
 * handshake and when a checkpoint is written, throttled per connection (the latest wins), and only to an agent
 * certified by the checkpoint's signer (after a rotation, the new key's heads go out once the agent has renewed).
 */
export class AuditHeadPush {
  #latest: Head | null;
  readonly #lastSent = new WeakMap<AgentConnection, number>();
  readonly #timers = new Map<AgentConnection, NodeJS.Timeout>();
  readonly #unsubscribe: () => void;
  readonly #onAgent = (view: { did: string }) => this.#offerTo(this.broker.online.get(view.did));
  #stopped = false;
  readonly #failed = (err: unknown) => audit(this.log).warn('audit.head-push-failed', { err: (err as Error).message }, 'sending the audit head to agents failed; the broker goes on');

  constructor(
    private readonly broker: Broker,
    destination: ChainedDestination,
    private readonly log: pino.Logger,
  ) {
    this.#latest = lastCheckpointIn(destination.path);
    this.#unsubscribe = destination.onAppend(guarded(this.#failed, (entry: AppendedEntry) => this.#checkpointed(entry)));
    // agentChanged follows every handshake (auth.succeeded), renewals included.
    this.broker.events.on('agentChanged', this.#onAgent);
  }

  stop(): void {
    this.#stopped = true;
    this.#unsubscribe();
    this.broker.events.off('agentChanged', this.#onAgent);
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #checkpointed(entry: AppendedEntry): void {
    if (entry.fields.event !== CHECKPOINT_EVENT || typeof entry.fields.broker !== 'string') return;
    this.#latest = { line: Buffer.from(entry.line, 'utf8'), signer: entry.fields.broker };
    for (const connection of this.broker.online.all()) this.#offerTo(connection);
  }

  #offerTo(connection: AgentConnection | undefined): void {
    if (!connection || this.#stopped || this.#timers.has(connection)) return;
    const wait = (this.#lastSent.get(connection) ?? -Infinity) + AUDIT_HEAD_INTERVAL_MS - Date.now();
    if (wait <= 0) return this.#send(connection);
    const timer = setTimeout(
      guarded(this.#failed, () => {
        this.#timers.delete(connection);
        // Gone or replaced meanwhile: the new connection got its own head after its handshake.
        if (connection.did !== undefined && this.broker.online.get(connection.did) === connection) this.#send(connection);
      }),
      wait,
    );
    timer.unref();
    this.#timers.set(connection, timer);
  }

  #send(connection: AgentConnection): void {
    const head = this.#latest;
    if (!head || !readsAuditHead(connection.agentVersion) || connection.certifiedBy?.did !== head.signer) return;
    this.#lastSent.set(connection, Date.now());
    connection.send({ type: 'audit/head', line: head.line });
  }
}
