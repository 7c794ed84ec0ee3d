import type pino from 'pino';
import { BUDGETS } from '../../core/budgets';
import { guarded } from '../../core/io/guarded';
import { ChallengeResponder, IdType, open, type VaultysId } from '../../core/identity';
import { AGENT_AUTH, type AgentFrame, type BrokerFrame } from '../../core/wire/hub-messages';
import { ApprovalRequestBody } from '../../core/wire/approval';
import { ProgressBody, ResultBody } from '../../core/wire/intent';
import { AgentHello, type AgentCertificateMetadata, type CertifiedPolicy } from '../../core/wire/policy';
import type { ActiveIdentity } from '../identity/active-identity';
import { audit } from '../audit/audit-log';
import type { AuditLine } from '../../core/audit/events';
import type { RefusalLine } from './refusal-audit';
import { CloseCode } from '../../core/wire/close-codes';

/** What a connection needs from the rest of the broker. */
export interface ConnectionHost {
  /** Before signing anything: refuse a rejected or revoked agent, or compose the policy to certify. */
  /** `ended`: the agent's registration is over (rejected or revoked), so it should stop reconnecting. */
  admit(agent: VaultysId, connection: AgentConnection): { ok: true; policy: CertifiedPolicy } | { ok: false; message: string; ended?: boolean };
  authenticated(connection: AgentConnection, hello: AgentHello): void;
  result(connection: AgentConnection, result: ResultBody, envelope: { payload: Uint8Array; signature: Uint8Array }): void;
  progress(connection: AgentConnection, progress: ProgressBody): void;
  approvalRequest(connection: AgentConnection, request: ApprovalRequestBody, envelope: { payload: Uint8Array; signature: Uint8Array }): void;
  /** The agent says it now pins `root` instead of this broker's own id. */
  pinMigrated(connection: AgentConnection, root: string): void;
  closed(connection: AgentConnection): void;
}

/** What refusing an agent's frame is audited as: hub.refused, unless the refusal names a more precise event. */
type AgentRefusal =
  | { event?: 'hub.refused' | 'approval.refused' }
  | { event: 'auth.refused'; idType?: string }
  | { event: 'result.refused'; claimed?: string }
  | { event: 'hub.not-approved'; frame: string };

export interface FrameSink {
  send(frame: BrokerFrame): void;
  close(code: CloseCode, reason: string): void;
  /** The peer's address: a key for counting what strangers may hold, never a trust signal. */
  readonly remote?: string;
  /** Audits a refusal of a peer that has not authenticated, within the hub's budget (never a line per stranger frame). */
  refusedUnauthenticated?(line: RefusalLine, message: string): void;
  /**
   * Audits within the hub's refusal budget whatever the socket's state: for what an agent that is not approved
   * causes by merely connecting and leaving, which it may repeat as often as its handshakes allow.
   */
  budgeted?(line: RefusalLine, message: string): void;
}

/**
 * One agent's connection. Every message after the handshake is attributed to
 * the DID this connection proved (upstream-gaps 5): ids a message declares
 * about itself must match it. Every handshake — first or renewal — gets its own
 * responder, so every connection gets a fresh certificate with the current policy.
 */
export class AgentConnection {
  /** The handshake in progress; dropped once it completes (a connection holds only what later frames need). */
  #responder?: ChallengeResponder;
  #certifiedBy?: VaultysId;
  #pendingHello?: AgentHello;
  #pendingPolicy?: CertifiedPolicy;
  #agent?: VaultysId;
  #policy?: CertifiedPolicy;
  #agentVersion?: string;
  /** Intents sent on this connection whose result has not come back. */
  #resultsOwed = 0;
  /** Intents signed under a policy newer than this connection's certificate, with that policy's version (mayCarry). */
  readonly #heldForRenewal: { frame: Extract<BrokerFrame, { type: 'intent' }>; policyVersion: number }[] = [];
  /** Set when the first of them was held: past BUDGETS.renewalWaitMs they go out anyway. */
  #renewalTimer: NodeJS.Timeout | undefined;
  /** The agent let BUDGETS.renewalWaitMs pass without renewing: nothing more is held for it until it does. */
  #renewalOverdue = false;
  #closed = false;
  #registrationEnded = false;
  /** Results taken from this connection while its certificate was not approved (BUDGETS.pendingAgentResults). */
  #pendingResults = 0;
  /** The pin the agent's last certified hello stated, and whether it already reported a migration on this connection. */
  #helloPin?: string;
  #pinReported = false;

  constructor(
    private readonly keys: ActiveIdentity,
    private readonly host: ConnectionHost,
    private readonly sink: FrameSink,
    readonly log: pino.Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Where the socket comes from (see FrameSink.remote). */
  get remote(): string {
    return this.sink.remote ?? 'unknown';
  }

  /** The agent this connection proved, once a handshake has completed. */
  get agent(): VaultysId | undefined {
    return this.#agent;
  }

  get did(): string | undefined {
    return this.#agent?.did;
  }

  /** The policy of the last certificate both sides signed on this connection. */
  get certifiedPolicy(): CertifiedPolicy | undefined {
    return this.#policy;
  }

  /** What the agent said it runs, in its last certified hello: only decides which frames it can read. */
  get agentVersion(): string | undefined {
    return this.#agentVersion;
  }

  /** The broker id that signed that certificate: after a rotation, the agent trusts the new id once it renews. */
  get certifiedBy(): VaultysId | undefined {
    return this.#certifiedBy;
  }

  /**
   * Whether an intent signed under policy `policyVersion` can go out on this connection, now or once the agent has
   * renewed its certificate: update_capabilities is on its way, and an intent that reached it under the old
   * certificate would be refused (a capability it does not hold yet, a revocation list it has not had).
   */
  mayCarry(policyVersion: number): boolean {
    return this.#certifiedAtLeast(policyVersion) || this.#renewalOverdue || this.#heldForRenewal.length < BUDGETS.intentsHeldForRenewal.limit;
  }

  /**
   * Sends an intent signed under policy `policyVersion` now, or keeps it until the agent holds that policy
   * (releaseRenewed), for BUDGETS.renewalWaitMs at most: an agent that does not renew (its update_capabilities lost,
   * a compromised agent) gets it then under the certificate it has, which decides, as it always does.
   */
  sendUnderPolicy(frame: Extract<BrokerFrame, { type: 'intent' }>, policyVersion: number): void {
    if (this.#certifiedAtLeast(policyVersion) || this.#renewalOverdue) return this.send(frame);
    this.#heldForRenewal.push({ frame, policyVersion });
    this.#renewalTimer ??= setTimeout(
      this.#guarded(() => {
        this.#renewalTimer = undefined;
        this.#renewalOverdue = true;
        for (const held of this.#heldForRenewal.splice(0)) this.send(held.frame);
      }, 'renewal-wait'),
      BUDGETS.renewalWaitMs.limit,
    );
    this.#renewalTimer.unref();
  }

  /** The agent renewed its certificate: the intents that waited for its policy go out, in the order they were signed. */
  releaseRenewed(): void {
    this.#renewalOverdue = false;
    const waiting = this.#heldForRenewal.splice(0);
    for (const held of waiting) {
      if (this.#certifiedAtLeast(held.policyVersion)) this.send(held.frame);
      else this.#heldForRenewal.push(held);
    }
    if (this.#heldForRenewal.length === 0) {
      clearTimeout(this.#renewalTimer);
      this.#renewalTimer = undefined;
    }
  }

  #certifiedAtLeast(policyVersion: number): boolean {
    return (this.#policy?.policyVersion ?? -1) >= policyVersion;
  }

  send(frame: BrokerFrame): void {
    if (this.#closed) return;
    if (frame.type === 'intent') this.#resultsOwed++;
    this.sink.send(frame);
  }

  /** True for a result frame while this connection owes one: the hub does not count it toward the frame rate. */
  takeOwedResult(frame: AgentFrame): boolean {
    if (frame.type !== 'result' || this.#resultsOwed === 0) return false;
    this.#resultsOwed--;
    return true;
  }

  close(code: CloseCode, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.sink.close(code, reason);
  }

  /**
   * Called by the hub when the socket is gone. Whatever the broker's bookkeeping of this agent throws stays
   * here: thrown out of a close handler it would stop the broker for every agent and user (review finding 1).
   */
  onSocketClosed(): void {
    this.#closed = true;
    // What was held is in the store as sent: the agent's next connection gets it again (onAgentBack).
    clearTimeout(this.#renewalTimer);
    this.#heldForRenewal.length = 0;
    if (this.#agent) this.#guarded(() => this.host.closed(this), 'closed')();
  }

  /** `callback` with its failures audited against this connection instead of thrown into the socket's event loop. */
  #guarded(callback: () => void, what: string): () => void {
    return guarded((err) => audit(this.log).error('hub.internal-error', { did: this.did, what, err: (err as Error)?.message ?? String(err) }, 'broker failed handling an agent event'), callback);
  }

  handle(frame: AgentFrame): void {
    // Frames that were already in flight when this connection was refused and closed earn nothing, not even an
    // audit line each: a refusal costs a peer its connection and a new handshake, so it is one line per handshake.
    if (this.#closed) return;
    switch (frame.type) {
      case 'auth/init':
        return this.#onInit(frame.challenge);
      case 'auth/complete':
        return this.#onComplete(frame.challenge);
      case 'result':
        if (this.#whenApproved(frame.type)) this.#onResult(frame.envelope);
        return;
      case 'progress':
        if (this.#whenApproved(frame.type)) this.#onProgress(frame.envelope);
        return;
      case 'approval/request':
        if (this.#whenApproved(frame.type)) this.#onApprovalRequest(frame.envelope);
        return;
      case 'pin/migrated':
        if (!this.#agent) return this.#refuse('unauthenticated', 'authenticate before reporting a pin');
        // Taken once, and only from an agent whose signed hello said it pinned the very id that answered it: a
        // report on the agent's word alone would let any agent write audit lines at the frame rate.
        if (this.#pinReported || this.#helloPin !== this.#certifiedBy?.did) {
          return this.#refuse('pin-report-refused', 'a pin migration is reported once per connection, by an agent whose handshake stated it pinned this broker id');
        }
        this.#pinReported = true;
        return this.host.pinMigrated(this, frame.root);
    }
  }

  /**
   * A registration not approved was sent no intent, so it has nothing to answer: it may hold a connection and
   * renew its handshake, nothing more. Anything else ends the connection with one audit line — never one line
   * per frame, which a pending agent could otherwise write into the hash-chained log at the frame rate (finding 5).
   */
  #whenApproved(type: AgentFrame['type']): boolean {
    if (!this.#agent || this.#policy?.status === 'approved') return true;
    // Except a few results: an agent whose registration the broker lost (its database reset) still holds the
    // answers it kept, and drops each once it is refused as unknown-intent — instead of resending it for ever.
    if (type === 'result' && ++this.#pendingResults <= BUDGETS.pendingAgentResults.limit) return true;
    this.#refuse('not-approved', `a ${this.#policy?.status ?? 'pending'} agent may not send ${type}`, { event: 'hub.not-approved', frame: type });
    return false;
  }

  /** An info line, or one within the refusal budget while this agent is not approved (see FrameSink.budgeted). */
  auditConnection(line: AuditLine<'auth.succeeded' | 'agent.offline' | 'agent.confinement'>, message: string): void {
    const status = this.#policy?.status ?? 'pending';
    if (status !== 'approved' && this.sink.budgeted) this.sink.budgeted({ ...line, code: status }, message);
    else audit(this.log).line('info', line, message);
  }

  #refuse(code: string, message: string, fields: AgentRefusal = {}): void {
    const line: RefusalLine = { event: 'hub.refused', code, detail: message, did: this.did, ...fields };
    if (!this.#agent && this.sink.refusedUnauthenticated) this.sink.refusedUnauthenticated(line, 'agent message refused');
    else audit(this.log).line('warn', line, 'agent message refused');
    this.send({ type: 'error', code, message });
    // RegistrationEnded tells a rejected or revoked agent not to come back; anything else it may retry.
    this.close(this.#registrationEnded ? CloseCode.RegistrationEnded : CloseCode.AuthRefused, code);
  }

  #onInit(challenge: Uint8Array): void {
    if (this.#responder?.state === 'step1') return this.#refuse('out-of-order', 'a handshake is already in progress');
    let wrongType: string | undefined;
    this.#responder = new ChallengeResponder({
      // Read now, not at connection time: a rotation since then changes who answers.
      identity: this.keys.identity,
      ...AGENT_AUTH,
      now: this.now,
      admit: (initiator, metadata) => {
        // A person's key is a user's: it authenticates on /rpc, never as an agent that tools run on (finding 14c).
        if (initiator.type !== IdType.Machine) {
          wrongType = IdType[initiator.type] ?? String(initiator.type);
          return { ok: false, message: `an agent proves a machine id, not a ${wrongType.toLowerCase()} id` };
        }
        const hello = AgentHello.safeParse(metadata);
        if (!hello.success) return { ok: false, message: 'metadata.pk1 is not an agent hello' };
        if (this.#agent && !this.#agent.equals(initiator)) return { ok: false, message: 'a connection cannot change its agent id' };
        const decision = this.host.admit(initiator, this);
        if (!decision.ok) {
          this.#registrationEnded = decision.ended === true;
          return decision;
        }
        this.#pendingHello = hello.data;
        this.#pendingPolicy = decision.policy;
        const authority = this.keys.authority;
        const certified: AgentCertificateMetadata = authority ? { ...decision.policy, authority } : decision.policy;
        return { ok: true, value: { metadata: certified } };
      },
    });
    const accepted = this.#responder.accept(challenge);
    if (!accepted.ok) return this.#refuse(wrongType ? 'not-a-machine-id' : accepted.reason, accepted.message, { event: 'auth.refused', ...(wrongType ? { idType: wrongType } : {}) });
    this.send({ type: 'auth/step1', challenge: accepted.value.step1 });
  }

  #onComplete(challenge: Uint8Array): void {
    // With no handshake in progress, a COMPLETE after one finished is that one's replay.
    if (!this.#responder) return this.#agent ? this.#refuse('replay', 'cannot take COMPLETE: the handshake is complete', { event: 'auth.refused' }) : this.#refuse('out-of-order', 'COMPLETE before INIT');
    const result = this.#responder.complete(challenge);
    if (!result.ok) return this.#refuse(result.reason, result.message, { event: 'auth.refused' });
    // Only now, with both signatures over it, does the new policy replace the old one.
    this.#agent = result.value.initiator;
    this.#certifiedBy = result.value.responder;
    this.#policy = this.#pendingPolicy!;
    const hello = this.#pendingHello!;
    this.#agentVersion = hello.agentVersion;
    this.#helloPin = hello.pin;
    this.#responder = this.#pendingHello = this.#pendingPolicy = undefined;
    this.host.authenticated(this, hello);
  }

  #onResult(envelope: { payload: Uint8Array; signature: Uint8Array }): void {
    const body = this.#openFromAgent('vaultysclaw/result/v1', envelope, ResultBody, 'result.refused');
    if (body) this.host.result(this, body, envelope);
  }

  #onProgress(envelope: { payload: Uint8Array; signature: Uint8Array }): void {
    const body = this.#openFromAgent('vaultysclaw/progress/v1', envelope, ProgressBody, 'result.refused');
    if (body) this.host.progress(this, body);
  }

  #onApprovalRequest(envelope: { payload: Uint8Array; signature: Uint8Array }): void {
    const request = this.#openFromAgent('vaultysclaw/approval-request/v1', envelope, ApprovalRequestBody, 'approval.refused');
    if (request) this.host.approvalRequest(this, request, envelope);
  }

  /** Verified against the key this connection proved, never a key or id the message names. */
  #openFromAgent<T extends { agent: string }>(
    ctx: 'vaultysclaw/result/v1' | 'vaultysclaw/progress/v1' | 'vaultysclaw/approval-request/v1',
    envelope: { payload: Uint8Array; signature: Uint8Array },
    schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } },
    event: 'result.refused' | 'approval.refused',
  ): T | undefined {
    if (!this.#agent) {
      this.#refuse('unauthenticated', ctx === 'vaultysclaw/approval-request/v1' ? 'authenticate before asking for approvals' : 'authenticate before sending results');
      return undefined;
    }
    const opened = open(this.#agent, ctx, envelope);
    if (!opened.ok) {
      this.#refuse(opened.reason, opened.message, { event });
      return undefined;
    }
    const parsed = schema.safeParse(opened.body);
    if (!parsed.success) {
      this.#refuse('bad-schema', `${ctx} body does not match its schema`, { event });
      return undefined;
    }
    if (parsed.data.agent !== this.#agent.did) {
      this.#refuse('impersonation', `message claims agent ${parsed.data.agent}`, { event, claimed: parsed.data.agent });
      return undefined;
    }
    return parsed.data;
  }
}
