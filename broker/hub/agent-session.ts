import type pino from 'pino';
import { ChallengeResponder, type Certificate, type SecretIdentity } from '../../core/identity';
import { AGENT_AUTH, type AgentFrame, type BrokerFrame } from '../../core/wire/hub-messages';
import { AgentHello, type CertifiedPolicy } from '../../core/wire/policy';
import type { AgentRecord, AgentRegistry } from '../store/agent-registry';
import type { PolicyBook } from './policy-book';

export type SessionEvent =
  | { kind: 'send'; frame: BrokerFrame }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'authenticated'; agent: AgentRecord; certificate: Certificate; policy: CertifiedPolicy };

/**
 * One agent connection's authentication: Challenger v1 with the agent as
 * initiator and the broker as responder, the agent's current policy written
 * into the broker's metadata. A fresh responder per handshake, so every
 * connection (and every renewal) gets a new certificate.
 */
export class AgentSession {
  #responder?: ChallengeResponder;
  #hello?: AgentHello;
  #policy?: CertifiedPolicy;
  #agent?: AgentRecord;

  constructor(
    private readonly identity: SecretIdentity,
    private readonly registry: AgentRegistry,
    private readonly policies: PolicyBook,
    private readonly log: pino.Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The DID proven by the last completed handshake, if any. */
  get did(): string | undefined {
    return this.#agent?.did;
  }

  handle(frame: AgentFrame): SessionEvent[] {
    switch (frame.type) {
      case 'auth/init':
        return this.#onInit(frame.challenge);
      case 'auth/complete':
        return this.#onComplete(frame.challenge);
    }
  }

  #onInit(challenge: Uint8Array): SessionEvent[] {
    if (this.#responder && this.#responder.state === 'step1') {
      return refuse('out-of-order', 'a handshake is already in progress on this connection');
    }
    this.#responder = new ChallengeResponder({
      identity: this.identity,
      ...AGENT_AUTH,
      now: this.now,
      admit: (initiator, metadata) => {
        const hello = AgentHello.safeParse(metadata);
        if (!hello.success) return { ok: false, message: 'metadata.pk1 is not an agent hello' };
        if (this.#agent && this.#agent.did !== initiator.did) {
          return { ok: false, message: 'a connection cannot change its agent id' };
        }
        const existing = this.registry.get(initiator.did);
        if (existing?.status === 'rejected' || existing?.status === 'revoked') {
          return { ok: false, message: `agent ${initiator.did} is ${existing.status}` };
        }
        this.#hello = hello.data;
        this.#policy = this.policies.policyFor(initiator.did, existing?.status ?? 'pending');
        return { ok: true, value: { metadata: this.#policy } };
      },
    });
    const accepted = this.#responder.accept(challenge);
    if (!accepted.ok) {
      this.log.warn({ event: 'auth.refused', reason: accepted.reason, detail: accepted.message }, 'agent handshake refused');
      return refuse(accepted.reason, accepted.message);
    }
    return [{ kind: 'send', frame: { type: 'auth/step1', challenge: accepted.value.step1 } }];
  }

  #onComplete(challenge: Uint8Array): SessionEvent[] {
    if (!this.#responder) return refuse('out-of-order', 'COMPLETE before INIT');
    const result = this.#responder.complete(challenge);
    if (!result.ok) {
      this.log.warn({ event: 'auth.refused', reason: result.reason, detail: result.message }, 'agent handshake refused');
      return refuse(result.reason, result.message);
    }
    const certificate = result.value;
    const agentId = certificate.initiator;
    const agent = this.registry.recordSeen(agentId.did, agentId.toBase64(), this.#hello!, this.now());
    this.#agent = agent;
    this.log.info({ event: 'auth.succeeded', did: agent.did, status: agent.status }, 'agent authenticated');
    return [
      { kind: 'authenticated', agent, certificate, policy: this.#policy! },
      { kind: 'send', frame: { type: 'auth/accepted', status: agent.status } },
    ];
  }
}

function refuse(code: string, message: string): SessionEvent[] {
  return [
    { kind: 'send', frame: { type: 'error', code, message } },
    { kind: 'close', code: 4001, reason: code },
  ];
}
