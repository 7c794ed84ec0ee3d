import { createHash, randomUUID } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { connect, errors, headers as natsHeaders, type Msg, type NatsConnection, type NodeConnectionOptions, type Status, type Subscription } from '@nats-io/transport-node';
import type pino from 'pino';
import type { z } from 'zod';
import { BUDGETS } from '../../core/budgets';
import { AgentDelivery, ClusterBroadcast, DeliveryReply } from '../../core/cluster/cluster-messages';
import type { AuditLine } from '../../core/audit/events';
import { guarded } from '../../core/io/guarded';
import { decodeFrame, encodeFrame } from '../../core/wire/frame-codec';
import { audit } from '../audit/audit-log';
import type { WindowedRefusalAudit } from '../audit/windowed-refusal-audit';
import { clusterRefusalAudit } from './cluster-refusal-audit';
import { readOwnerOnlyFile } from '../cli/owner-only-file';
import type { ClusterBus } from './cluster-bus';

export interface NatsBusOptions {
  /** nats://host:port or tls://host:port, without credentials (they come from files). */
  servers: string[];
  /** One subject prefix per cluster: clusters sharing a NATS server never hear each other. */
  clusterName: string;
  nodeName: string;
  log: pino.Logger;
  /** Require TLS, verified against this CA (a PEM file) or the system's. */
  tls?: { ca?: string };
  /** The server's user and a 0600 file holding its password, or a 0600 file holding its token. */
  credentials?: { user: string; passwordFile: string } | { tokenFile: string };
}

/** What the bus checks and budgets, and names in its audit lines. */
type BusSubject = 'broadcast' | 'delivery' | 'reply';
type BusRefusal = AuditLine<'cluster.refused' | 'cluster.handler-failed'>;

const MESSAGE_BYTES = BUDGETS.clusterMessageBytes.limit;
/** Room for our headers on top of a message at the bound: the server's max_payload counts both. */
const HEADER_ROOM = 1024;
/** Who sent a broadcast: a random id per bus, so a node skips its own (two nodes misnamed alike still hear each other). */
const SENDER_HEADER = 'Vaultysclaw-Sender';
/** A cluster name is one subject token: a dot or a wildcard in it would reach another cluster's subjects. */
const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Reconnect backoff: from the first delay doubling up to the ceiling, forever (a node recovers by itself). */
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 5_000;
/** A server that stops answering (paused, a dead link) is noticed after about PING_MS × (PINGS_OUT + 1). */
const PING_MS = 5_000;
const PINGS_OUT = 2;
/** close() waits this long for in-flight messages before it closes anyway (a server that is down never drains). */
const DRAIN_MS = 5_000;
const NOT_DELIVERED = 'the holder could not hand it to the agent';

/** host:port of each server, refusing URLs that carry credentials (they belong in a 0600 file, never on a command line or in a log). */
function hostPorts(servers: string[]): string[] {
  if (servers.length === 0) throw new Error('the cluster bus needs at least one NATS server (nats://host:port)');
  return servers.map((server) => {
    let url: URL;
    try {
      url = new URL(server.includes('://') ? server : `nats://${server}`);
    } catch {
      throw new Error('a NATS server is not a URL (nats://host:port or tls://host:port)');
    }
    if (url.username || url.password) throw new Error(`the NATS server ${url.host} is given with credentials in its URL: give them from a file (user and password file, or token file)`);
    if (!['nats:', 'tls:'].includes(url.protocol)) throw new Error(`the NATS server ${url.host} must be nats://host:port or tls://host:port`);
    return url.host;
  });
}

type NodeTlsOptions = NonNullable<NodeConnectionOptions['tls']>;

/**
 * TLS verified against `ca` (or the system's CAs), the certificate naming one of the configured servers. The
 * client hands Node no server name for a server given by IP address (tls://127.0.0.1:4222), so Node would check
 * the certificate against "localhost": the names are checked here instead. Any configured server's name is
 * accepted for any of them: they are all this cluster's servers, trusted alike.
 */
function tlsFrom(tls: NatsBusOptions['tls'], servers: string[]): NodeTlsOptions | undefined {
  if (!tls) return undefined;
  const names = servers.map((hostPort) => new URL(`nats://${hostPort}`).hostname.replace(/^\[(.*)\]$/, '$1'));
  const options: NodeTlsOptions & { checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined } = {
    ...(tls.ca ? { caFile: tls.ca } : {}),
    checkServerIdentity: (_host: string, cert: PeerCertificate) => (names.some((name) => checkServerIdentity(name, cert) === undefined) ? undefined : checkServerIdentity(names[0]!, cert)),
  };
  return options;
}

function credentialsFrom(credentials: NatsBusOptions['credentials']): { user?: string; pass?: string; token?: string } {
  if (!credentials) return {};
  if ('tokenFile' in credentials) return { token: readOwnerOnlyFile(credentials.tokenFile, 'the NATS token file') };
  return { user: credentials.user, pass: readOwnerOnlyFile(credentials.passwordFile, 'the NATS password file') };
}

/** The subject deliveries for `agentDid` go to: a hash, so a DID's characters never become subject syntax. */
export function agentSubject(clusterName: string, agentDid: string): string {
  return `vaultysclaw.${clusterName}.agent.${createHash('sha256').update(agentDid).digest('hex').slice(0, 32)}`;
}

/**
 * Connects a broker node to its cluster's NATS: refuses to start (naming host:port, never a credential) when no
 * server answers or the server's max_payload cannot carry BUDGETS.clusterMessageBytes.
 */
export async function connectNatsBus(options: NatsBusOptions): Promise<NatsBus> {
  if (!CLUSTER_NAME.test(options.clusterName)) throw new Error('the cluster name must be 1 to 64 letters, digits, _ or -');
  const servers = hostPorts(options.servers);
  const where = servers.join(', ');
  let attempts = 0;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.servers,
      name: options.nodeName,
      ...credentialsFrom(options.credentials),
      ...(options.tls ? { tls: tlsFrom(options.tls, servers) } : {}),
      timeout: 5_000,
      reconnect: true,
      maxReconnectAttempts: -1,
      // Called before each attempt; the counter is reset when the bus is back (NatsBus.#onStatus).
      reconnectDelayHandler: () => Math.min(RECONNECT_FIRST_MS * 2 ** Math.min(attempts++, 10), RECONNECT_MAX_MS) + Math.floor(Math.random() * RECONNECT_FIRST_MS),
      pingInterval: PING_MS,
      maxPingOut: PINGS_OUT,
    });
  } catch (err) {
    throw new Error(`cannot reach NATS at ${where}: ${(err as Error).message}`);
  }
  const maxPayload = nc.info?.max_payload ?? 0;
  if (maxPayload < MESSAGE_BYTES + HEADER_ROOM) {
    await nc.close().catch(() => undefined);
    throw new Error(
      `NATS at ${nc.getServer() || where} carries messages of at most ${maxPayload} bytes; the cluster bus needs ${MESSAGE_BYTES + HEADER_ROOM}: ` +
        'raise max_payload in nats-server\'s configuration file (e.g. "max_payload: 4MB") and restart it',
    );
  }
  const bus = new NatsBus(nc, options, () => {
    attempts = 0;
  });
  // Started once the server has its broadcast subscription: a broadcast sent after this resolves is heard.
  await bus.flush();
  return bus;
}

/**
 * The cluster bus over NATS core pub/sub and request-reply (issue 20). Nothing it receives is trusted: every
 * message is bounded by BUDGETS.clusterMessageBytes, decoded against its schema and dropped (audited within a
 * budget) when it does not fit; handlers run within BUDGETS.clusterHandlersRunning and their failures are audited,
 * never thrown into NATS's callbacks.
 */
export class NatsBus implements ClusterBus {
  readonly nodeName: string;
  readonly #nc: NatsConnection;
  readonly #log: pino.Logger;
  readonly #prefix: string;
  readonly #clusterName: string;
  readonly #sender = randomUUID();
  readonly #broadcastHandlers: ((message: ClusterBroadcast) => void | Promise<void>)[] = [];
  /** The handler per agent subject this node serves, and the one subscription carrying it. */
  readonly #served = new Map<string, { handler: (message: AgentDelivery) => Promise<DeliveryReply>; sub: Subscription }>();
  readonly #refusals: WindowedRefusalAudit<BusRefusal>;
  readonly #resetBackoff: () => void;
  #connected = true;
  #closing = false;
  #downSince: number | undefined;
  #waiting = 0;
  #running = 0;

  constructor(nc: NatsConnection, options: NatsBusOptions, resetBackoff: () => void) {
    this.#nc = nc;
    this.nodeName = options.nodeName;
    this.#clusterName = options.clusterName;
    this.#prefix = `vaultysclaw.${options.clusterName}`;
    this.#log = options.log.child({ component: 'cluster-bus' });
    this.#resetBackoff = resetBackoff;
    this.#refusals = clusterRefusalAudit(this.#log, this.nodeName, Date.now, (err) => this.#internalError('refusal summary', err));
    nc.subscribe(`${this.#prefix}.broadcast`, { callback: guarded((err) => this.#internalError('broadcast', err), (err: Error | null, msg: Msg) => this.#onBroadcast(err, msg)) });
    void this.#watchStatus();
  }

  get connected(): boolean {
    return this.#connected && !this.#closing;
  }

  broadcast(message: ClusterBroadcast): void {
    // Lost while the bus is down (the interface's promise): the client would otherwise buffer without bound.
    if (!this.connected) return;
    const data = this.#encode(message, 'broadcast');
    if (!data) return;
    const headers = natsHeaders();
    headers.set(SENDER_HEADER, this.#sender);
    try {
      this.#nc.publish(`${this.#prefix}.broadcast`, data, { headers });
    } catch (err) {
      this.#refused('send', 'broadcast', 'publish-failed', (err as Error).message);
    }
  }

  onBroadcast(handler: (message: ClusterBroadcast) => void | Promise<void>): void {
    this.#broadcastHandlers.push(handler);
  }

  async deliver(agentDid: string, message: AgentDelivery, timeoutMs: number = BUDGETS.clusterDeliveryMs.limit): Promise<DeliveryReply | 'absent' | 'failed'> {
    // Down: failed at once, not after a timeout (the caller refuses the work with a clear error).
    if (!this.connected) return 'failed';
    const data = this.#encode(message, 'delivery');
    if (!data) return 'failed';
    if (this.#waiting >= BUDGETS.clusterDeliveriesWaiting.limit) {
      this.#refused('send', 'delivery', 'too-many-waiting', `${this.#waiting} deliveries wait for an answer`);
      return 'failed';
    }
    this.#waiting++;
    let reply: Msg;
    try {
      reply = await this.#nc.request(agentSubject(this.#clusterName, agentDid), data, { timeout: timeoutMs });
    } catch (err) {
      if (err instanceof errors.RequestError && err.isNoResponders()) return 'absent';
      return 'failed';
    } finally {
      this.#waiting--;
    }
    return this.#decode(DeliveryReply, reply.data, 'reply') ?? 'failed';
  }

  serveAgent(agentDid: string, handler: (message: AgentDelivery) => Promise<DeliveryReply>): () => void {
    // Closing: the subscription could not be made, and nothing may be delivered here any more.
    if (this.#closing) return () => undefined;
    const subject = agentSubject(this.#clusterName, agentDid);
    const served = this.#served.get(subject);
    // One subscription per agent: a newer connection of the same agent takes its deliveries over.
    const entry = served
      ? Object.assign(served, { handler })
      : {
          handler,
          sub: this.#nc.subscribe(subject, { callback: guarded((err) => this.#internalError('delivery', err), (err: Error | null, msg: Msg) => this.#onDelivery(subject, err, msg)) }),
        };
    this.#served.set(subject, entry);
    return () => {
      if (this.#served.get(subject) !== entry || entry.handler !== handler) return;
      this.#served.delete(subject);
      entry.sub.unsubscribe();
    };
  }

  /**
   * Resolves when the server has processed everything this node sent so far, its subscriptions included: after
   * `serveAgent` then `flush`, a delivery from any node finds the agent (a broadcast sent after serveAgent is
   * ordered behind its subscription anyway, on this one connection).
   */
  async flush(): Promise<void> {
    await this.#nc.flush();
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#served.clear();
    let timer: NodeJS.Timeout | undefined;
    const drained = this.#nc.drain().then(
      () => true,
      () => false,
    );
    const ok = await Promise.race([drained, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), DRAIN_MS)))]);
    clearTimeout(timer);
    if (!ok) await this.#nc.close().catch(() => undefined);
    this.#refusals.flush();
  }

  #onBroadcast(err: Error | null, msg: Msg): void {
    if (err) return this.#internalError('broadcast subscription', err);
    if (msg.headers?.get(SENDER_HEADER) === this.#sender) return;
    const message = this.#decode(ClusterBroadcast, msg.data, 'broadcast');
    if (!message) return;
    if (!this.#enter('broadcast')) return;
    const handlers = [...this.#broadcastHandlers];
    void (async () => {
      try {
        for (const handler of handlers) {
          try {
            await handler(message);
          } catch (error) {
            this.#handlerFailed('broadcast', message.kind, error);
          }
        }
      } finally {
        this.#running--;
      }
    })();
  }

  #onDelivery(subject: string, err: Error | null, msg: Msg): void {
    if (err) return this.#internalError('delivery subscription', err);
    const answer = (reply: DeliveryReply): void => {
      if (!msg.reply) return;
      // Canonical msgpack has no `undefined`: absent fields are left out.
      msg.respond(encodeFrame(Object.fromEntries(Object.entries(reply).filter(([, value]) => value !== undefined))));
    };
    if (!msg.reply) return this.#refused('receive', 'delivery', 'no-reply-subject', 'a delivery nobody waits the answer of');
    const message = this.#decode(AgentDelivery, msg.data, 'delivery');
    if (!message) return answer({ ok: false, message: 'refused: not a delivery' });
    const served = this.#served.get(subject);
    if (!served) return answer({ ok: false, message: 'the agent is no longer connected here' });
    if (!this.#enter('delivery')) return answer({ ok: false, message: 'the holder is busy' });
    void (async () => {
      try {
        const reply = DeliveryReply.safeParse(await served.handler(message));
        answer(reply.success ? reply.data : { ok: false, message: NOT_DELIVERED });
      } catch (error) {
        this.#handlerFailed('delivery', message.kind, error);
        answer({ ok: false, message: NOT_DELIVERED });
      } finally {
        this.#running--;
      }
    })().catch((error: unknown) => this.#internalError('delivery answer', error));
  }

  /** One more handler running, unless BUDGETS.clusterHandlersRunning are already: a flood of valid messages is shed, not queued. */
  #enter(subject: 'broadcast' | 'delivery'): boolean {
    if (this.#running >= BUDGETS.clusterHandlersRunning.limit) {
      this.#refused('receive', subject, 'too-many-running', `${this.#running} handlers running`);
      return false;
    }
    this.#running++;
    return true;
  }

  #encode(message: ClusterBroadcast | AgentDelivery, subject: BusSubject): Uint8Array | undefined {
    const data = encodeFrame(message);
    if (data.length <= MESSAGE_BYTES) return data;
    this.#refused('send', subject, 'oversized', `${message.kind} of ${data.length} bytes exceeds ${MESSAGE_BYTES}`);
    return undefined;
  }

  #decode<S extends z.ZodType>(schema: S, data: Uint8Array, subject: BusSubject): z.infer<S> | undefined {
    const frame = decodeFrame(schema, data, MESSAGE_BYTES);
    if (frame.ok) return frame.value;
    this.#refused('receive', subject, frame.code, frame.message);
    return undefined;
  }

  #refused(direction: 'send' | 'receive', subject: BusSubject, code: string, detail: string): void {
    this.#refusals.refused({ event: 'cluster.refused', node: this.nodeName, direction, subject, code, detail }, `a cluster ${subject} was not ${direction === 'send' ? 'sent' : 'accepted'}`);
  }

  #handlerFailed(subject: 'broadcast' | 'delivery', kind: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.#refusals.refused({ event: 'cluster.handler-failed', node: this.nodeName, subject, kind, err: message }, `a cluster ${subject} handler failed`);
  }

  #internalError(what: string, err: unknown): void {
    audit(this.#log).error('broker.internal-error', { what: `cluster bus: ${what}`, err: err instanceof Error ? err.message : String(err) }, 'cluster bus internal error');
  }

  async #watchStatus(): Promise<void> {
    try {
      for await (const status of this.#nc.status()) this.#onStatus(status);
    } catch (err) {
      this.#internalError('status', err);
    }
    this.#connected = false;
  }

  #onStatus(status: Status): void {
    if (this.#closing) return;
    if (status.type === 'disconnect') {
      this.#connected = false;
      // One line per outage, however many reconnect attempts it takes.
      if (this.#downSince === undefined) {
        this.#downSince = Date.now();
        audit(this.#log).warn('cluster.bus-down', { node: this.nodeName, server: status.server }, 'the cluster bus is down: work that needs another node is refused until it is back');
      }
    } else if (status.type === 'reconnect') {
      this.#connected = true;
      this.#resetBackoff();
      if (this.#downSince !== undefined) {
        audit(this.#log).info('cluster.bus-up', { node: this.nodeName, server: status.server, downMs: Date.now() - this.#downSince }, 'the cluster bus is back');
        this.#downSince = undefined;
      }
    } else if (status.type === 'close') {
      this.#connected = false;
    }
  }
}
