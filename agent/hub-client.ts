import type pino from 'pino';
import WebSocket from 'ws';
import type { BrokerAcceptance } from '../core/authority/broker-pin';
import { ChallengeInitiator, type SecretIdentity } from '../core/identity';
import { DEFAULT_CLOCK_SKEW_MS } from '../core/policy/intent-gates';
import { decodeFrame, encodeFrame } from '../core/wire/frame-codec';
import { AGENT_AUTH, BrokerFrame, HUB_PROTOCOL_VERSION, MAX_HUB_FRAME_BYTES, OversizedIntentFrame, type AgentFrame } from '../core/wire/hub-messages';
import type { RegistrationStatus } from '../core/wire/policy';
import { AgentCertificateMetadata, type AgentHello, type CertifiedPolicy } from '../core/wire/policy';
import { BrokerTrust } from './broker-trust';
import { brokerWebSocket, BrokerTlsError, type BrokerTls } from '../core/wire/broker-tls';
import { loggableUrl } from '../core/wire/broker-url';
import { CloseCode } from '../core/wire/close-codes';
import type { CertifiedSession, IntentRunner } from './intent-runner';
import type { AgentStateDir } from './state-dir';
import { DEFAULT_RECONNECT, ReconnectBackoff } from './reconnect-delay';
import { AuditHeadStore } from './store/audit-head-store';


interface Handshake {
  initiator: ChallengeInitiator;
  offered?: CertifiedPolicy;
  trust?: Extract<BrokerAcceptance, { ok: true }>;
  /** The broker accepted it: until then a renewal waits (the broker takes one handshake at a time). */
  accepted?: boolean;
  /** The root this handshake moved the pin to, reported to the broker once authenticated. */
  migrated?: string | null;
}

export interface HubClientOptions {
  /** The broker's hub URLs (every node of a cluster, or one address): the first first, the next after each drop. */
  urls: readonly string[];
  identity: SecretIdentity;
  state: AgentStateDir;
  hello: AgentHello;
  runner: IntentRunner;
  log: pino.Logger;
  /** How a wss:// broker's TLS certificate is checked: against this CA (PEM) or by its SHA-256 fingerprint. */
  tls?: BrokerTls;
  clockSkewMs?: number;
  /** The agent's clock, for the handshake's liveness check (the intent gates use the same one). */
  now?: () => number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** The broker ended this agent's registration: reconnecting would be refused. */
  onRevoked?: (reason: string) => void;
  onAuthenticated?: (session: CertifiedSession & { status: RegistrationStatus }) => void;
}

/**
 * The agent's only connection: outbound to the broker, authenticated by a
 * Challenger handshake in which the agent refuses any broker but the pinned
 * one, renewed on update_capabilities, and reconnected with exponential
 * backoff and jitter, to the next of its URLs in turn (a dead node of a
 * cluster is left for another; every node proves the same pinned broker).
 */
export class HubClient {
  #socket?: WebSocket;
  #stopped = false;
  readonly #backoff: ReconnectBackoff;
  #retry?: NodeJS.Timeout;
  /** Which of options.urls the next connection goes to. */
  #next = 0;
  readonly #trust: BrokerTrust;
  /** The policy of the last certificate both sides signed; intents are checked against it alone. */
  #session?: CertifiedSession;
  readonly #auditHeads: AuditHeadStore;

  constructor(private readonly options: HubClientOptions) {
    if (options.urls.length === 0) throw new Error('the agent needs at least one broker URL');
    this.#trust = new BrokerTrust(options.state, options.log, options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS);
    this.#auditHeads = new AuditHeadStore(options.state.path);
    this.#backoff = new ReconnectBackoff({
      ...DEFAULT_RECONNECT,
      minMs: options.minBackoffMs ?? DEFAULT_RECONNECT.minMs,
      maxMs: options.maxBackoffMs ?? DEFAULT_RECONNECT.maxMs,
    });
  }

  start(): void {
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#socket?.close(CloseCode.Normal, 'agent stopping');
  }

  #connect(): void {
    const { urls, log } = this.options;
    const url = urls[this.#next]!;
    void brokerWebSocket(url, this.options.tls, { perMessageDeflate: false }).then(
      (socket) => {
        if (this.#stopped) return void socket.terminate();
        this.#attach(socket, url);
      },
      (err: unknown) => {
        // Refused inside the TLS handshake: no byte of the upgrade request (path, headers) reached that peer.
        if (err instanceof BrokerTlsError && err.reason !== 'unreachable') {
          const what = err.reason === 'pin-mismatch' ? "the broker's TLS certificate is not the pinned one" : "the broker's TLS certificate does not verify";
          log.error({ event: 'tls.refused', reason: err.reason, code: err.code, detail: err.message }, `${what}; disconnecting`);
        } else {
          log.warn({ event: 'hub.socket-error', url: loggableUrl(url), err: (err as Error).message }, 'connection error');
        }
        this.#retryLater(1006, '');
      },
    ).catch((err: unknown) => {
      // Called from a promise settled by a socket event: a throw here must not leave the agent without a connection.
      log.error({ event: 'hub.connect-crashed', err: (err as Error).message }, 'setting up the connection failed');
      this.#retryLater(1011, 'connect-crashed');
    });
  }

  #retryLater(code: number, reason: string): void {
    if (this.#stopped) return;
    const delay = this.#backoff.next(code);
    // Round robin: a node that died (or cannot be reached) is not tried again before the others.
    this.#next = (this.#next + 1) % this.options.urls.length;
    this.options.log.info({ event: 'hub.disconnected', code, reason, retryInMs: delay, next: loggableUrl(this.options.urls[this.#next]!) }, 'disconnected from broker');
    this.#retry = setTimeout(() => this.#connect(), delay);
  }

  /** A refused head is logged and dropped; the connection stays (the head is the broker's word about its own log, not an order). */
  #keepAuditHead(line: Uint8Array, brokerDid: string): void {
    const { log } = this.options;
    let offer;
    try {
      offer = this.#auditHeads.offer(line, brokerDid);
    } catch (err) {
      log.error({ event: 'audit-head.store-failed', file: this.#auditHeads.file, err: (err as Error).message }, "could not store the broker's audit head");
      return;
    }
    if (offer.ok) {
      if (offer.stored) log.info({ event: 'audit-head.kept', broker: brokerDid, seq: offer.seq }, "kept the broker's latest audit checkpoint");
    } else if (offer.reason === 'lower-seq' || offer.reason === 'conflicting') {
      // Evidence: the broker signed further (or otherwise) before. The higher head stays, and this is said loudly.
      log.error({ event: 'audit-head.regressed', broker: brokerDid, reason: offer.reason, held: offer.held, detail: offer.detail }, "the broker's audit log went back: kept the checkpoint held before");
    } else {
      log.warn({ event: 'audit-head.refused', broker: brokerDid, reason: offer.reason, detail: offer.detail }, "refused the broker's audit head");
    }
  }

  #attach(socket: WebSocket, url: string): void {
    const { log } = this.options;
    this.#socket = socket;
    this.#session = undefined;
    const send = (frame: AgentFrame) => {
      if (socket.readyState === socket.OPEN) socket.send(encodeFrame(frame));
    };
    let handshake: Handshake | undefined;
    let renewAfterThis = false;
    /**
     * A renewal asked for while a handshake is under way waits for it to be accepted: a second INIT would be
     * out of order, and the broker would close the connection with every tool call waiting for a reviewer.
     * Any number of requests meanwhile make one renewal, which certifies the then current policy and chain.
     */
    const renew = () => {
      if (handshake && !handshake.accepted) {
        renewAfterThis = true;
        return;
      }
      startHandshake();
    };
    const startHandshake = () => {
      const h: Handshake = {
        initiator: new ChallengeInitiator({
          identity: this.options.identity,
          ...AGENT_AUTH,
          now: this.options.now,
          // The pin as this handshake starts, signed: the broker believes a pin/migrated report only if it was its own id.
          metadata: { ...this.options.hello, ...(this.#trust.pinned ? { pin: this.#trust.pinned } : {}) } satisfies AgentHello,
          acceptResponder: (broker, metadata) => {
            const parsed = AgentCertificateMetadata.safeParse(metadata);
            const trusted = this.#trust.check(broker, parsed.success ? parsed.data.authority : undefined);
            if (!trusted.ok) return trusted;
            if (!parsed.success) return { ok: false, message: 'the broker certified no valid policy' };
            const { authority: _chain, ...policy } = parsed.data;
            h.offered = policy;
            h.trust = trusted;
            return { ok: true, value: undefined };
          },
        }),
      };
      handshake = h;
      send({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: h.initiator.init });
    };
    const fail = (code: CloseCode, reason: string) => socket.close(code, reason.slice(0, 120));

    socket.on('open', () => {
      log.info({ event: 'hub.connected', url: loggableUrl(url) }, 'connected to broker; authenticating');
      startHandshake();
    });
    socket.on('message', (data, isBinary) => {
      const bytes = isBinary ? new Uint8Array(data as Buffer) : null;
      const frame = decodeFrame(BrokerFrame, bytes, MAX_HUB_FRAME_BYTES);
      if (!frame.ok) {
        // An intent over the limits is answered, not dropped: dropping it ends the connection, and the broker sends it again on the next.
        const oversized = this.#session ? decodeFrame(OversizedIntentFrame, bytes, MAX_HUB_FRAME_BYTES) : undefined;
        if (oversized?.ok) return this.options.runner.refuseUndecodable(oversized.value.envelope, this.#session!, `intent frame: ${frame.message}`);
        log.error({ event: 'hub.bad-frame', code: frame.code, detail: frame.message }, 'bad frame from broker; disconnecting');
        return fail(CloseCode.BadFrame, frame.code);
      }
      const f = frame.value;
      switch (f.type) {
        case 'auth/step1': {
          if (!handshake || handshake.initiator.state !== 'init') return fail(CloseCode.AuthRefused, 'out-of-order');
          const result = handshake.initiator.respond(f.challenge);
          if (!result.ok) {
            log.error({ event: 'auth.refused', reason: result.reason, detail: result.message }, 'broker handshake refused');
            return fail(CloseCode.AuthRefused, result.reason);
          }
          const broker = result.value.certificate.responder;
          this.#trust.confirmFirstUse(broker);
          const chain = handshake.trust!.chain;
          handshake.migrated = this.#trust.learn(broker, chain, handshake.trust!.migrateTo);
          send({ type: 'auth/complete', challenge: result.value.complete });
          // Only the certificate both sides signed changes what this agent may do.
          this.#session = { broker, policy: handshake.offered!, formerBroker: chain?.former ?? null };
          return;
        }
        case 'auth/accepted': {
          if (!this.#session || handshake?.initiator.state !== 'complete' || handshake.accepted) return fail(CloseCode.AuthRefused, 'out-of-order');
          handshake.accepted = true;
          this.#backoff.reset();
          const { policy } = this.#session;
          log.info(
            { event: 'auth.succeeded', broker: this.#session.broker.did, status: f.status, policyVersion: policy.policyVersion, capabilities: policy.capabilities },
            `authenticated; registration ${f.status}`,
          );
          this.options.runner.attach(send);
          if (handshake.migrated) send({ type: 'pin/migrated', root: handshake.migrated });
          this.options.onAuthenticated?.({ ...this.#session, status: f.status });
          if (renewAfterThis) {
            renewAfterThis = false;
            startHandshake();
          }
          return;
        }
        case 'authority/changed':
          if (!this.#session) return fail(CloseCode.AuthRefused, 'out-of-order');
          log.info({ event: 'authority.renewing' }, "the broker's identity or its root's revocations changed; renewing the handshake");
          return renew();
        case 'update_capabilities':
          if (!this.#session) return fail(CloseCode.AuthRefused, 'out-of-order');
          log.info({ event: 'policy.renewing', policyVersion: f.policyVersion }, 'broker changed the policy; renewing the certificate');
          return renew();
        case 'intent':
          if (!this.#session) return fail(CloseCode.AuthRefused, 'unauthenticated');
          void this.options.runner.handle(f.envelope, this.#session, () => (this.#socket === socket ? this.#session : undefined)).catch((err: unknown) =>
            log.error({ event: 'intent.crashed', err: (err as Error).message }, 'intent handling failed'),
          );
          return;
        case 'result/ack':
          return this.options.runner.acknowledge(f.intentId);
        case 'revocations':
          if (!this.#session) return fail(CloseCode.AuthRefused, 'unauthenticated');
          return this.options.runner.updateRevocations(f.envelope, this.#session);
        case 'delegation':
          // Intents carry their own certificate; a pushed one is only noted.
          log.info({ event: 'delegation.received' }, 'the broker pushed a delegation certificate');
          return;
        case 'approval/decision':
          if (!this.#session) return fail(CloseCode.AuthRefused, 'unauthenticated');
          return this.options.runner.onApprovalDecision(f.bundle, this.#session);
        case 'intent/cancel':
          if (!this.#session) return fail(CloseCode.AuthRefused, 'unauthenticated');
          return this.options.runner.onCancel(f.envelope, this.#session);
        case 'audit/head':
          if (!this.#session) return fail(CloseCode.AuthRefused, 'unauthenticated');
          return this.#keepAuditHead(f.line, this.#session.broker.did);
        case 'error':
          log.warn({ event: 'hub.broker-error', code: f.code, detail: f.message, intentId: f.intentId }, 'broker reported an error');
          if (f.code === 'unknown-intent' && f.intentId) this.options.runner.forgetRefused(f.intentId);
          // An approval request the broker would not open: the call waiting on it ends now (none waits: nothing happens).
          if (f.intentId) this.options.runner.approvalRefused(f.intentId, f.code, f.message);
          return;
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      log.warn({ event: 'hub.socket-error', err: err.message }, 'connection error');
    });
    socket.on('close', (code, reason) => {
      this.#session = undefined;
      this.options.runner.detach();
      if (this.#stopped) return;
      if (code === CloseCode.RegistrationEnded) {
        log.error({ event: 'agent.revoked', reason: reason.toString() }, 'the broker ended this agent\'s registration');
        this.options.onRevoked?.(reason.toString());
        return;
      }
      this.#retryLater(code, reason.toString());
    });
  }
}
