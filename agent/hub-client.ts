import type pino from 'pino';
import WebSocket from 'ws';
import { ChallengeInitiator, type Certificate, type SecretIdentity, type VaultysId } from '../core/identity';
import { decodeFrame, encodeFrame } from '../core/wire/frame-codec';
import { AGENT_AUTH, BrokerFrame, HUB_PROTOCOL_VERSION, MAX_HUB_FRAME_BYTES, type RegistrationStatus } from '../core/wire/hub-messages';
import { CertifiedPolicy, type AgentHello } from '../core/wire/policy';
import type { AgentStateDir, PinRecord } from './state-dir';

export interface HubClientOptions {
  url: string;
  identity: SecretIdentity;
  state: AgentStateDir;
  hello: AgentHello;
  log: pino.Logger;
  /** Reconnect backoff bounds. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onAuthenticated?: (session: { certificate: Certificate; policy: CertifiedPolicy; status: RegistrationStatus }) => void;
}

/**
 * The agent's only connection: outbound to the broker, authenticated by a
 * Challenger handshake in which the agent refuses any broker but the pinned
 * one, and reconnected with exponential backoff and jitter.
 */
export class HubClient {
  #socket?: WebSocket;
  #stopped = false;
  #attempt = 0;
  #retry?: NodeJS.Timeout;
  #pin: PinRecord;

  constructor(private readonly options: HubClientOptions) {
    this.#pin = options.state.pin();
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
    // The policy is read from the broker's metadata before we co-sign it; it only counts once the certificate is complete.
    let offered: CertifiedPolicy | undefined;
    let certified: { certificate: Certificate; policy: CertifiedPolicy } | undefined;
    const initiator = new ChallengeInitiator({
      identity: this.options.identity,
      ...AGENT_AUTH,
      metadata: this.options.hello,
      acceptResponder: (broker, metadata) => {
        const trusted = this.#checkPin(broker);
        if (!trusted.ok) return trusted;
        const policy = CertifiedPolicy.safeParse(metadata);
        if (!policy.success) return { ok: false, message: 'the broker certified no valid policy' };
        offered = policy.data;
        return { ok: true, value: undefined };
      },
    });

    socket.on('open', () => {
      log.info({ event: 'hub.connected', url }, 'connected to broker; authenticating');
      socket.send(encodeFrame({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: initiator.init }));
    });
    socket.on('message', (data, isBinary) => {
      const frame = decodeFrame(BrokerFrame, isBinary ? new Uint8Array(data as Buffer) : null, MAX_HUB_FRAME_BYTES);
      if (!frame.ok) {
        log.error({ event: 'hub.bad-frame', code: frame.code, detail: frame.message }, 'bad frame from broker; disconnecting');
        socket.close(4000, frame.code);
        return;
      }
      const f = frame.value;
      if (f.type === 'auth/step1') {
        const result = initiator.respond(f.challenge);
        if (!result.ok) {
          log.error({ event: 'auth.refused', reason: result.reason, detail: result.message }, 'broker handshake refused');
          socket.close(4001, result.reason);
          return;
        }
        certified = { certificate: result.value.certificate, policy: offered! };
        this.#confirmPin(result.value.certificate.responder);
        socket.send(encodeFrame({ type: 'auth/complete', challenge: result.value.complete }));
      } else if (f.type === 'auth/accepted') {
        if (!certified || initiator.state !== 'complete') {
          log.error({ event: 'hub.out-of-order' }, 'broker accepted before the handshake completed; disconnecting');
          socket.close(4001, 'out-of-order');
          return;
        }
        this.#attempt = 0;
        log.info({ event: 'auth.succeeded', broker: certified.certificate.responder.did, status: f.status }, `authenticated; registration ${f.status}`);
        this.options.onAuthenticated?.({ ...certified, status: f.status });
      } else {
        log.warn({ event: 'hub.broker-error', code: f.code, detail: f.message }, 'broker reported an error');
      }
    });
    socket.on('error', (err) => log.warn({ event: 'hub.socket-error', err: err.message }, 'connection error'));
    socket.on('close', (code, reason) => {
      if (this.#stopped) return;
      const delay = this.#backoff();
      log.info({ event: 'hub.disconnected', code, reason: reason.toString(), retryInMs: delay }, 'disconnected from broker');
      this.#retry = setTimeout(() => this.#connect(), delay);
    });
  }

  /** Exponential backoff with full jitter, so a fleet does not reconnect in lockstep after a broker restart. */
  #backoff(): number {
    const min = this.options.minBackoffMs ?? 500;
    const max = this.options.maxBackoffMs ?? 30_000;
    const ceiling = Math.min(max, min * 2 ** this.#attempt++);
    return Math.round(min / 2 + Math.random() * (ceiling - min / 2));
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
