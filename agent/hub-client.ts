import type pino from 'pino';
import WebSocket from 'ws';
import { ChallengeInitiator, type SecretIdentity, type VaultysId } from '../core/identity';
import { decodeFrame, encodeFrame } from '../core/wire/frame-codec';
import { AGENT_AUTH, BrokerFrame, CLOSE_REGISTRATION_ENDED, HUB_PROTOCOL_VERSION, MAX_HUB_FRAME_BYTES, type AgentFrame } from '../core/wire/hub-messages';
import type { RegistrationStatus } from '../core/wire/policy';
import { CertifiedPolicy, type AgentHello } from '../core/wire/policy';
import type { CertifiedSession, IntentRunner } from './intent-runner';
import { DEFAULT_RECONNECT, ReconnectBackoff } from './reconnect-delay';
import type { AgentStateDir, PinRecord } from './state-dir';


export interface HubClientOptions {
  url: string;
  identity: SecretIdentity;
  state: AgentStateDir;
  hello: AgentHello;
  runner: IntentRunner;
  log: pino.Logger;
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
 * backoff and jitter.
 */
export class HubClient {
  #socket?: WebSocket;
  #stopped = false;
  readonly #backoff: ReconnectBackoff;
  #retry?: NodeJS.Timeout;
  #pin: PinRecord;
  /** The policy of the last certificate both sides signed; intents are checked against it alone. */
  #session?: CertifiedSession;

  constructor(private readonly options: HubClientOptions) {
    this.#pin = options.state.pin();
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
    this.#socket?.close(1000, 'agent stopping');
  }

  #connect(): void {
    const { url, log } = this.options;
    const socket = new WebSocket(url, { maxPayload: MAX_HUB_FRAME_BYTES, perMessageDeflate: false });
    this.#socket = socket;
    this.#session = undefined;
    const send = (frame: AgentFrame) => {
      if (socket.readyState === socket.OPEN) socket.send(encodeFrame(frame));
    };
    let handshake: { initiator: ChallengeInitiator; offered?: CertifiedPolicy } | undefined;
    const startHandshake = () => {
      const h: { initiator: ChallengeInitiator; offered?: CertifiedPolicy } = {
        initiator: new ChallengeInitiator({
          identity: this.options.identity,
          ...AGENT_AUTH,
          metadata: this.options.hello,
          acceptResponder: (broker, metadata) => {
            const trusted = this.#checkPin(broker);
            if (!trusted.ok) return trusted;
            const policy = CertifiedPolicy.safeParse(metadata);
            if (!policy.success) return { ok: false, message: 'the broker certified no valid policy' };
            h.offered = policy.data;
            return { ok: true, value: undefined };
          },
        }),
      };
      handshake = h;
      send({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: h.initiator.init });
    };
    const fail = (code: number, reason: string) => socket.close(code, reason.slice(0, 120));

    socket.on('open', () => {
      log.info({ event: 'hub.connected', url }, 'connected to broker; authenticating');
      startHandshake();
    });
    socket.on('message', (data, isBinary) => {
      const frame = decodeFrame(BrokerFrame, isBinary ? new Uint8Array(data as Buffer) : null, MAX_HUB_FRAME_BYTES);
      if (!frame.ok) {
        log.error({ event: 'hub.bad-frame', code: frame.code, detail: frame.message }, 'bad frame from broker; disconnecting');
        return fail(4000, frame.code);
      }
      const f = frame.value;
      switch (f.type) {
        case 'auth/step1': {
          if (!handshake || handshake.initiator.state !== 'init') return fail(4001, 'out-of-order');
          const result = handshake.initiator.respond(f.challenge);
          if (!result.ok) {
            log.error({ event: 'auth.refused', reason: result.reason, detail: result.message }, 'broker handshake refused');
            return fail(4001, result.reason);
          }
          const broker = result.value.certificate.responder;
          this.#confirmPin(broker);
          send({ type: 'auth/complete', challenge: result.value.complete });
          // Only the certificate both sides signed changes what this agent may do.
          this.#session = { broker, policy: handshake.offered! };
          return;
        }
        case 'auth/accepted': {
          if (!this.#session || handshake?.initiator.state !== 'complete') return fail(4001, 'out-of-order');
          this.#backoff.reset();
          const { policy } = this.#session;
          log.info(
            { event: 'auth.succeeded', broker: this.#session.broker.did, status: f.status, policyVersion: policy.policyVersion, capabilities: policy.capabilities },
            `authenticated; registration ${f.status}`,
          );
          this.options.runner.attach(send);
          this.options.onAuthenticated?.({ ...this.#session, status: f.status });
          return;
        }
        case 'update_capabilities':
          if (!this.#session) return fail(4001, 'out-of-order');
          log.info({ event: 'policy.renewing', policyVersion: f.policyVersion }, 'broker changed the policy; renewing the certificate');
          return startHandshake();
        case 'intent':
          if (!this.#session) return fail(4001, 'unauthenticated');
          void this.options.runner.handle(f.envelope, this.#session, () => (this.#socket === socket ? this.#session : undefined)).catch((err: unknown) =>
            log.error({ event: 'intent.crashed', err: (err as Error).message }, 'intent handling failed'),
          );
          return;
        case 'result/ack':
          return this.options.runner.acknowledge(f.intentId);
        case 'revocations':
          if (!this.#session) return fail(4001, 'unauthenticated');
          return this.options.runner.updateRevocations(f.envelope, this.#session);
        case 'delegation':
          // Intents carry their own certificate; a pushed one is only noted.
          log.info({ event: 'delegation.received' }, 'the broker pushed a delegation certificate');
          return;
        case 'approval/decision':
          if (!this.#session) return fail(4001, 'unauthenticated');
          return this.options.runner.onApprovalDecision(f.bundle, this.#session);
        case 'error':
          log.warn({ event: 'hub.broker-error', code: f.code, detail: f.message }, 'broker reported an error');
          return;
      }
    });
    socket.on('error', (err) => log.warn({ event: 'hub.socket-error', err: err.message }, 'connection error'));
    socket.on('close', (code, reason) => {
      this.#session = undefined;
      this.options.runner.detach();
      if (this.#stopped) return;
      if (code === CLOSE_REGISTRATION_ENDED) {
        log.error({ event: 'agent.revoked', reason: reason.toString() }, 'the broker ended this agent\'s registration');
        this.options.onRevoked?.(reason.toString());
        return;
      }
      const delay = this.#backoff.next(code);
      log.info({ event: 'hub.disconnected', code, reason: reason.toString(), retryInMs: delay }, 'disconnected from broker');
      this.#retry = setTimeout(() => this.#connect(), delay);
    });
  }

  #checkPin(broker: VaultysId): { ok: true; value: undefined } | { ok: false; message: string } {
    if (this.#pin.brokerDid === broker.did) return { ok: true, value: undefined };
    if (this.#pin.brokerDid === null && this.#pin.trustOnFirstUse) return { ok: true, value: undefined };
    return { ok: false, message: `broker proved ${broker.did}, but this agent is pinned to ${this.#pin.brokerDid ?? 'no broker'}` };
  }

  /** Trust on first use: the first broker seen becomes the pin, loudly. */
  #confirmPin(broker: VaultysId): void {
    if (this.#pin.brokerDid !== null) return;
    this.#pin = { brokerDid: broker.did, trustOnFirstUse: false, pinnedAt: Date.now() };
    this.options.state.writePin(this.#pin);
    this.options.log.warn(
      { event: 'pin.tofu', broker: broker.did, fingerprint: broker.fingerprint },
      'TRUST ON FIRST USE: pinned the broker that answered first; compare its fingerprint with the broker operator',
    );
  }
}
