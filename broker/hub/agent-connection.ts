import type pino from 'pino';
import { BUDGETS } from '../../core/budgets';
import { guarded } from '../../core/io/guarded';
import { ChallengeResponder, IdType, open, type Certificate, type VaultysId } from '../../core/identity';
import { AGENT_AUTH, type AgentFrame, type BrokerFrame } from '../../core/wire/hub-messages';
import { ApprovalRequestBody } from '../../core/wire/approval';
import { ProgressBody, ResultBody } from '../../core/wire/intent';
import { AgentHello, type AgentCertificateMetadata, type CertifiedPolicy } from '../../core/wire/policy';
import type { ActiveIdentity } from '../identity/active-identity';
import { audit } from '../audit/audit-log';
import type { AuditLine } from '../../core/audit/events';
import type { RefusalLine } from './refusal-audit';
import { AgentRefusalAudit, type AgentFrameRefusal } from './agent-refusal-audit';
import { CloseCode } from '../../core/wire/close-codes';
import { InOrderQueue } from './in-order-queue';

/** A place among the intents a connection holds for its agent's renewal (AgentConnection.claimHold). */
export interface HoldClaim {
  /** Gives the place back; a second call does nothing. */
  release(): void;
}

/** What an intent that goes out at once claims: nothing. */
const NOTHING_CLAIMED: HoldClaim = { release: () => {} };

/** `ended`: the agent's registration is over (rejected or revoked), so it should stop reconnecting. */
/** `audited`: the host wrote the refusal's line itself (auditAdmission), with what only it knows: the connection adds none. */
export type AdmitDecision = { ok: true; policy: CertifiedPolicy } | { ok: false; message: string; ended?: boolean; audited?: boolean };

/** What a connection needs from the rest of the broker. Each call may await the database. */
export interface ConnectionHost {
  /** Before signing anything: refuse a rejected or revoked agent, or compose the policy to certify. */
  admit(agent: VaultysId, connection: AgentConnection): Promise<AdmitDecision>;
  authenticated(connection: AgentConnection, hello: AgentHello): Promise<void>;
  result(connection: AgentConnection, result: ResultBody, envelope: { payload: Uint8Array; signature: Uint8Array }): Promise<void>;
  progress(connection: AgentConnection, progress: ProgressBody, envelope: { payload: Uint8Array; signature: Uint8Array }): Promise<void>;
  approvalRequest(connection: AgentConnection, request: ApprovalRequestBody, envelope: { payload: Uint8Array; signature: Uint8Array }): Promise<void>;
  /** The agent says it now pins `root` instead of this broker's own id. */
  pinMigrated(connection: AgentConnection, root: string): void;
  closed(connection: AgentConnection): Promise<void>;
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
  /** Stops reading the socket (its frames wait in the peer's buffers and the kernel's), until resumeReading. */
  pauseReading?(): void;
  resumeReading?(): void;
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
  /** The last completed handshake's certificate: what other broker nodes are shown as proof that this connection is newer. */
  #handshake?: Certificate;
  #pendingHello?: AgentHello;
  #pendingPolicy?: CertifiedPolicy;
  #agent?: VaultysId;
  #policy?: CertifiedPolicy;
  #agentVersion?: string;
  /** Intents sent on this connection whose result has not come back. */
  #resultsOwed = 0;
  /** Intents signed under a policy newer than this connection's certificate, with that policy's version (claimHold). */
  readonly #heldForRenewal: { frame: Extract<BrokerFrame, { type: 'intent' }>; policyVersion: number }[] = [];
  /** Places claimed for intents still between their dispatch's check and their send (claimHold). */
  #holdsClaimed = 0;
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
  readonly #refusals: AgentRefusalAudit;
  /**
   * This connection's frames, and its close, handled one after another in the order they came: each may await the
   * database, and a result must never be taken before the handshake it follows, nor after the close it preceded.
   */
  readonly #inOrder = new InOrderQueue();
  /** The socket is not read while BUDGETS.agentFramesQueued frames wait (handle). */
  #readingPaused = false;

  constructor(
    private readonly keys: ActiveIdentity,
    private readonly host: ConnectionHost,
    private readonly sink: FrameSink,
    readonly log: pino.Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.#refusals = new AgentRefusalAudit(log, () => this.did, now);
  }

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

  /** The COMPLETE certificate of the last handshake on this connection (both signatures, the agent's timestamp). */
  get handshake(): Certificate | undefined {
    return this.#handshake;
  }

  /**
   * Claims, before a dispatch's awaits, a place for an intent signed under policy `policyVersion` among those this
   * connection may hold while the agent renews its certificate (update_capabilities is on its way, and an intent that
   * reached it under the old certificate would be refused: a capability it does not hold yet, a revocation list it has
   * not had). Undefined when BUDGETS.intentsHeldForRenewal are held or claimed already (agent-busy): checked against
   * the claims of dispatches still between their check and their send, so dispatches at once cannot pass it together.
   * The claim is given back by sendUnderPolicy, or by release() when the dispatch ends without sending.
   */
  claimHold(policyVersion: number): HoldClaim | undefined {
    if (!this.#mustHold(policyVersion)) return NOTHING_CLAIMED;
    if (this.#heldForRenewal.length + this.#holdsClaimed >= BUDGETS.intentsHeldForRenewal.limit) return undefined;
    this.#holdsClaimed++;
    let given = false;
    return {
      release: () => {
        if (given) return;
        given = true;
        this.#holdsClaimed--;
      },
    };
  }

  /**
   * Sends an intent signed under policy `policyVersion` now, or keeps it until the agent holds that policy
   * (releaseRenewed), for BUDGETS.renewalWaitMs at most: an agent that does not renew (its update_capabilities lost,
   * a compromised agent) gets it then under the certificate it has, which decides, as it always does. `claim` is the
   * place claimHold gave on this connection; one sent without (its agent reconnected since the claim) is held only
   * within the bound, and past it goes out at once, the agent deciding under the certificate it has.
   */
  sendUnderPolicy(frame: Extract<BrokerFrame, { type: 'intent' }>, policyVersion: number, claim?: HoldClaim): void {
    // Its place becomes the held intent below, in the same step: the count never passes the bound meanwhile.
    claim?.release();
    if (!this.#mustHold(policyVersion) || this.#heldForRenewal.length + this.#holdsClaimed >= BUDGETS.intentsHeldForRenewal.limit) return this.send(frame);
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

  /** Whether an intent signed under `policyVersion` waits for the agent to renew rather than go out now. */
  #mustHold(policyVersion: number): boolean {
    return !this.#certifiedAtLeast(policyVersion) && !this.#renewalOverdue;
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
    // What waits behind the frame in hand is released now, not once storage answers it: #handle would skip it then.
    this.#inOrder.drop();
    // Read again, for the peer's answer to the close: what else comes is dropped at the edge of a closing socket.
    this.#resumeReading();
    this.sink.close(code, reason);
  }

  /**
   * Called by the hub when the socket is gone. Whatever the broker's bookkeeping of this agent throws stays
   * here: thrown out of a close handler it would stop the broker for every agent and user (review finding 1).
   */
  onSocketClosed(): Promise<void> {
    // After the frames that came before the close: nothing queued is taken for a connection already gone.
    return this.#inOrder.run(() => {
      this.#closed = true;
      this.#guarded(() => this.#refusals.flush(), 'refusal summary')();
      // What was held is in the store as sent: the agent's next connection gets it again (onAgentBack).
      clearTimeout(this.#renewalTimer);
      this.#heldForRenewal.length = 0;
      if (this.#agent) this.#guarded(() => this.host.closed(this), 'closed')();
    }, { droppable: false });
  }

  /** `callback` with its failures audited against this connection instead of thrown into the socket's event loop. */
  #guarded(callback: () => void | Promise<void>, what: string): () => void {
    return guarded((err) => audit(this.log).error('hub.internal-error', { did: this.did, what, err: (err as Error)?.message ?? String(err) }, 'broker failed handling an agent event'), callback);
  }

  /**
   * Takes one frame, in order after those before it; resolves once it is handled (rejects if the broker failed on it).
   * Each waits here, in memory, up to hubFrameBytes, for as long as storage takes (a lock, a PostgreSQL that does not
   * answer), whatever the frame rate: at BUDGETS.agentFramesQueued the socket is no longer read until they are
   * handled, so what the agent sends meanwhile waits in its own buffers. Not closed: an honest agent's burst (200
   * unasked frames in a second, its kept results resent after a reconnect) reaches the bound on a healthy broker too.
   */
  handle(frame: AgentFrame): Promise<void> {
    // Nothing is kept for a connection the broker closed: its frames would earn nothing once their turn came.
    if (this.#closed) return Promise.resolve();
    const handled = this.#inOrder.run(() => this.#handle(frame), { droppable: true });
    if (this.#inOrder.length >= BUDGETS.agentFramesQueued.limit && !this.#readingPaused) {
      this.#readingPaused = true;
      this.sink.pauseReading?.();
    }
    const drained = () => {
      if (this.#inOrder.length < BUDGETS.agentFramesQueued.limit) this.#resumeReading();
    };
    handled.then(drained, drained);
    return handled;
  }

  #resumeReading(): void {
    if (!this.#readingPaused) return;
    this.#readingPaused = false;
    this.sink.resumeReading?.();
  }

  async #handle(frame: AgentFrame): Promise<void> {
    // Frames that were already in flight when this connection was refused and closed earn nothing, not even an
    // audit line each: a refusal costs a peer its connection and a new handshake, so it is one line per handshake.
    if (this.#closed) return;
    switch (frame.type) {
      case 'auth/init':
        return this.#onInit(frame.challenge);
      case 'auth/complete':
        return this.#onComplete(frame.challenge);
      case 'result':
        if (this.#whenApproved(frame.type)) await this.#onResult(frame.envelope);
        return;
      case 'progress':
        if (this.#whenApproved(frame.type)) await this.#onProgress(frame.envelope);
        return;
      case 'approval/request':
        if (this.#whenApproved(frame.type)) await this.#onApprovalRequest(frame.envelope);
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

  /**
   * Audits a refusal of one of this agent's validly signed frames that leaves the connection open, within
   * BUDGETS.agentRefusalAuditLines (see AgentRefusalAudit): the frame is still answered with its error.
   */
  auditRefusal(line: AgentFrameRefusal, message: string): void {
    this.#refusals.refused(line, message);
  }

  /**
   * The host's own line for an agent it refuses at admission (a rejected or revoked one), within the hub's refusal
   * budget: such an agent may come back as often as it can open a socket, and each try would be a full line.
   */
  auditAdmission(line: RefusalLine, message: string): void {
    if (this.sink.budgeted) this.sink.budgeted(line, message);
    else audit(this.log).line('warn', line, message);
  }

  /** `audited`: the refusal is already in the audit log (auditAdmission): answered and closed, not written twice. */
  #refuse(code: string, message: string, fields: AgentRefusal = {}, audited = false): void {
    const line: RefusalLine = { event: 'hub.refused', code, detail: message, did: this.did, ...fields };
    if (!audited && !this.#agent && this.sink.refusedUnauthenticated) this.sink.refusedUnauthenticated(line, 'agent message refused');
    else if (!audited) audit(this.log).line('warn', line, 'agent message refused');
    this.send({ type: 'error', code, message });
    // RegistrationEnded tells a rejected or revoked agent not to come back; anything else it may retry.
    this.close(this.#registrationEnded ? CloseCode.RegistrationEnded : CloseCode.AuthRefused, code);
  }

  async #onInit(challenge: Uint8Array): Promise<void> {
    if (this.#responder?.state === 'step1') return this.#refuse('out-of-order', 'a handshake is already in progress');
    let wrongType: string | undefined;
    let admissionAudited = false;
    this.#responder = new ChallengeResponder({
      // Read now, not at connection time: a rotation since then changes who answers.
      identity: this.keys.identity,
      ...AGENT_AUTH,
      now: this.now,
      admit: async (initiator, metadata) => {
        // A person's key is a user's: it authenticates on /rpc, never as an agent that tools run on (finding 14c).
        if (initiator.type !== IdType.Machine) {
          wrongType = IdType[initiator.type] ?? String(initiator.type);
          return { ok: false, message: `an agent proves a machine id, not a ${wrongType.toLowerCase()} id` };
        }
        const hello = AgentHello.safeParse(metadata);
        if (!hello.success) return { ok: false, message: 'metadata.pk1 is not an agent hello' };
        if (this.#agent && !this.#agent.equals(initiator)) return { ok: false, message: 'a connection cannot change its agent id' };
        const decision = await this.host.admit(initiator, this);
        if (!decision.ok) {
          this.#registrationEnded = decision.ended === true;
          admissionAudited = decision.audited === true;
          return decision;
        }
        this.#pendingHello = hello.data;
        this.#pendingPolicy = decision.policy;
        const authority = this.keys.authority;
        const certified: AgentCertificateMetadata = authority ? { ...decision.policy, authority } : decision.policy;
        return { ok: true, value: { metadata: certified } };
      },
    });
    const accepted = await this.#responder.acceptAsync(challenge);
    if (!accepted.ok) return this.#refuse(wrongType ? 'not-a-machine-id' : accepted.reason, accepted.message, { event: 'auth.refused', ...(wrongType ? { idType: wrongType } : {}) }, admissionAudited);
    this.send({ type: 'auth/step1', challenge: accepted.value.step1 });
  }

  async #onComplete(challenge: Uint8Array): Promise<void> {
    // With no handshake in progress, a COMPLETE after one finished is that one's replay.
    if (!this.#responder) return this.#agent ? this.#refuse('replay', 'cannot take COMPLETE: the handshake is complete', { event: 'auth.refused' }) : this.#refuse('out-of-order', 'COMPLETE before INIT');
    const result = this.#responder.complete(challenge);
    if (!result.ok) return this.#refuse(result.reason, result.message, { event: 'auth.refused' });
    // Only now, with both signatures over it, does the new policy replace the old one.
    this.#agent = result.value.initiator;
    this.#certifiedBy = result.value.responder;
    this.#handshake = result.value;
    this.#policy = this.#pendingPolicy!;
    const hello = this.#pendingHello!;
    this.#agentVersion = hello.agentVersion;
    this.#helloPin = hello.pin;
    this.#responder = this.#pendingHello = this.#pendingPolicy = undefined;
    await this.host.authenticated(this, hello);
  }

  async #onResult(envelope: { payload: Uint8Array; signature: Uint8Array }): Promise<void> {
    const body = this.#openFromAgent('vaultysclaw/result/v1', envelope, ResultBody, 'result.refused');
    if (body) await this.host.result(this, body, envelope);
  }

  async #onProgress(envelope: { payload: Uint8Array; signature: Uint8Array }): Promise<void> {
    const body = this.#openFromAgent('vaultysclaw/progress/v1', envelope, ProgressBody, 'result.refused');
    if (body) await this.host.progress(this, body, envelope);
  }

  async #onApprovalRequest(envelope: { payload: Uint8Array; signature: Uint8Array }): Promise<void> {
    const request = this.#openFromAgent('vaultysclaw/approval-request/v1', envelope, ApprovalRequestBody, 'approval.refused');
    if (request) await this.host.approvalRequest(this, request, envelope);
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
