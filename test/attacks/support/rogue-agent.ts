import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { ChallengeInitiator, open, seal, type Certificate, type SealedEnvelope, type SecretIdentity } from '../../../core/identity';
import { decodeFrame, encodeFrame } from '../../../core/wire/frame-codec';
import { AGENT_AUTH, BrokerFrame, HUB_PROTOCOL_VERSION, MAX_HUB_FRAME_BYTES } from '../../../core/wire/hub-messages';
import type { ApprovalRequestBody } from '../../../core/wire/approval';
import { IntentBody, type ResultBody } from '../../../core/wire/intent';
import { CertifiedPolicy, type AgentHello } from '../../../core/wire/policy';
import { waitFor } from '../../support/processes';

export interface Closed {
  code: number;
  reason: string;
}

/**
 * A raw hub connection driven by the test: it frames with the product's own
 * codec, records every broker frame, and lets the test send anything.
 */
export class HubSocket {
  readonly frames: BrokerFrame[] = [];
  readonly undecodable: Uint8Array[] = [];
  closed?: Closed;
  readonly whenClosed: Promise<Closed>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      const bytes = isBinary ? new Uint8Array(data as Buffer) : null;
      const frame = decodeFrame(BrokerFrame, bytes, MAX_HUB_FRAME_BYTES);
      if (frame.ok) this.frames.push(frame.value);
      else if (bytes) this.undecodable.push(bytes);
    });
    socket.on('error', () => undefined);
    this.whenClosed = new Promise((resolve) =>
      socket.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        resolve(this.closed);
      }),
    );
  }

  static async connect(url: string): Promise<HubSocket> {
    return HubSocket.connectFrom(url);
  }

  /** From a chosen loopback source address (127.0.0.0/8): what the broker counts per address. */
  static async connectFrom(url: string, localAddress?: string): Promise<HubSocket> {
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: MAX_HUB_FRAME_BYTES, localAddress });
    const hub = new HubSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    return hub;
  }

  send(frame: Record<string, unknown>): void {
    this.socket.send(encodeFrame(frame));
  }

  sendRaw(data: Uint8Array | string, binary = true): void {
    this.socket.send(data, { binary });
  }

  /** The next frame of `type` not yet taken (bounded wait). */
  async next<T extends BrokerFrame['type']>(type: T, match: (f: Extract<BrokerFrame, { type: T }>) => boolean = () => true, timeoutMs = 5000): Promise<Extract<BrokerFrame, { type: T }>> {
    return waitFor(
      `a ${type} frame`,
      () => {
        const i = this.frames.findIndex((f) => f.type === type && match(f as Extract<BrokerFrame, { type: T }>));
        if (i < 0) {
          if (this.closed) throw new Error(`connection closed (${this.closed.code} ${this.closed.reason}) before a ${type} frame`);
          return undefined;
        }
        return this.frames.splice(i, 1)[0] as Extract<BrokerFrame, { type: T }>;
      },
      timeoutMs,
    );
  }

  async waitClosed(timeoutMs = 5000): Promise<Closed> {
    return waitFor('the connection to close', () => this.closed, timeoutMs);
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
  }
}

export interface Handshake {
  initiator: ChallengeInitiator;
  step1: Uint8Array;
  complete: Uint8Array;
  certificate: Certificate;
  policy: CertifiedPolicy;
}

/**
 * An in-process agent that speaks the hub protocol with its own key, and does
 * whatever the test tells it to — including what an honest agent never would.
 */
export class RogueAgent {
  constructor(
    readonly identity: SecretIdentity,
    readonly url: string,
    readonly brokerDid: string,
    readonly hello: AgentHello = { name: 'rogue', requested: ['read_file', 'list_files'], agentVersion: '0.0.0-rogue' },
  ) {}

  get did(): string {
    return this.identity.did;
  }

  newInitiator(): ChallengeInitiator {
    return new ChallengeInitiator({
      identity: this.identity,
      ...AGENT_AUTH,
      metadata: this.hello,
      acceptResponder: (broker, metadata) => {
        if (broker.did !== this.brokerDid) return { ok: false, message: 'not the pinned broker' };
        return CertifiedPolicy.safeParse(metadata).success ? { ok: true, value: undefined } : { ok: false, message: 'no policy' };
      },
    });
  }

  /** INIT → STEP1 on `hub`, and our COMPLETE for it (not sent). */
  async begin(hub: HubSocket): Promise<Handshake> {
    const initiator = this.newInitiator();
    hub.send({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: initiator.init });
    const step1 = (await hub.next('auth/step1')).challenge;
    const responded = initiator.respond(step1);
    if (!responded.ok) assert.fail(`rogue could not answer STEP1: ${responded.reason} ${responded.message}`);
    const policy = CertifiedPolicy.parse(responded.value.certificate.responderMetadata);
    return { initiator, step1, complete: responded.value.complete, certificate: responded.value.certificate, policy };
  }

  /** A complete honest handshake on `hub` (a new connection unless given). */
  async authenticate(hub?: HubSocket): Promise<{ hub: HubSocket; handshake: Handshake; status: string }> {
    const socket = hub ?? (await HubSocket.connect(this.url));
    const handshake = await this.begin(socket);
    socket.send({ type: 'auth/complete', challenge: handshake.complete });
    const accepted = await socket.next('auth/accepted');
    return { hub: socket, handshake, status: accepted.status };
  }

  result(body: Omit<ResultBody, 'agent' | 'finishedAt'> & Partial<Pick<ResultBody, 'agent' | 'finishedAt'>>, signer: SecretIdentity = this.identity): SealedEnvelope {
    return seal(signer, 'vaultysclaw/result/v1', { agent: this.did, finishedAt: Date.now(), ...body });
  }

  /**
   * A signed request for a reviewer on `intent`'s own call, as an honest agent sends before running a tool that needs
   * one; `quorum` as its rule says (or as a lying agent claims).
   */
  approvalRequest(intent: IntentBody, policy: CertifiedPolicy, quorum: Partial<Pick<ApprovalRequestBody, 'reviewers' | 'selfReview' | 'rule'>> = {}): { requestId: string; envelope: SealedEnvelope } {
    const requestedAt = Date.now();
    const body: ApprovalRequestBody = {
      requestId: randomBytes(16).toString('hex'),
      intentId: intent.id,
      agent: this.did,
      user: intent.user,
      capability: intent.capability,
      params: intent.params,
      cwd: '/workspace',
      requestedAt,
      expiresAt: requestedAt + policy.approvalTimeoutMs,
      ...quorum,
    };
    return { requestId: body.requestId, envelope: seal(this.identity, 'vaultysclaw/approval-request/v1', body) };
  }

  /** Verifies an intent frame the broker sent us, as an honest agent would. */
  openIntent(envelope: SealedEnvelope, broker: Certificate['responder']): IntentBody {
    const opened = open(broker, 'vaultysclaw/intent/v1', envelope);
    if (!opened.ok) assert.fail(`intent does not verify: ${opened.reason}`);
    return IntentBody.parse(opened.body);
  }
}
