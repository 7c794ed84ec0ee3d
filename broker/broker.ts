import { join } from 'node:path';
import type pino from 'pino';
import { guarded } from '../core/io/guarded';
import { VaultysId, type SecretIdentity } from '../core/identity';
import type { BrokerAuthority } from '../core/wire/authority';
import type { AgentHello, Confinement } from '../core/wire/policy';
import { AgentDirectory } from './agents/agent-directory';
import { OnlineAgents } from './agents/online-agents';
import { DEFAULT_PENDING_LIMITS, PendingRegistrations, type PendingLimits } from './agents/pending-registrations';
import { RegistrationService } from './agents/registration-service';
import { BrokerEventBus } from './events';
import { AgentConnection, type ConnectionHost } from './hub/agent-connection';
import { HubServer, type HubOptions } from './hub/hub-server';
import { IntentRouter } from './intents/intent-router';
import { acceptWebSocketRpc } from './rpc/websocket-rpc';
import { AgentRegistry } from './store/agent-registry';
import { openDatabase, type BrokerDatabase } from './store/database';
import { IntentStore } from './store/intent-store';
import { PolicyStore } from './store/policy-store';
import { InvitationStore } from './store/invitation-store';
import { UserStore } from './store/user-store';
import { UserService } from './users/user-service';
import { DelegationService } from './delegation/delegation-service';
import { GrantStore } from './store/grant-store';
import { ApprovalService } from './approvals/approval-service';
import { ApprovalStore } from './store/approval-store';
import { TokenUsageStore } from './store/token-usage-store';
import { IntentResendStore } from './store/intent-resend-store';
import { PendingCancelStore } from './store/pending-cancel-store';
import { ActiveIdentity } from './identity/active-identity';
import { certificateOf, IdentityService } from './identity/identity-service';
import type { BrokerContext } from './broker-context';
import { UserRequestRate } from './rpc/user-request-rate';

export const DEFAULT_APPROVAL_TIMEOUT_MS = 10 * 60_000;
/** How often agents' last_seen times kept in memory are written (and at shutdown). */
const LAST_SEEN_FLUSH_MS = 30_000;
import type { BrokerInfo } from '../core/rpc/methods';
import { FINAL_INTENT_STATES } from '../core/rpc/views';
import { audit } from './audit/audit-log';
import type { AuditLine } from '../core/audit/events';
import { CloseCode } from '../core/wire/close-codes';

export interface BrokerOptions {
  dataDir: string;
  identity: SecretIdentity;
  /** The root's chain for `identity`, already checked (broker/identity/own-chain.ts); absent when the broker has no root. */
  authority?: BrokerAuthority | null;
  /** A root key in the data directory is tolerated (start --allow-root-key); checked again at every identity reload. */
  allowRootKey?: boolean;
  /** The DID of the broker host's operator key, admitted as an owner (see UserService). */
  localOperatorDid?: string;
  /** How long a tool call waits for a reviewer, carried in every agent certificate. */
  approvalTimeoutMs?: number;
  /** How long a disconnected agent has to come back before its intents in flight end lost-agent. */
  lostAgentGraceMs?: number;
  /** How long an intent the broker signs stays fresh (its expiresAt). */
  stalenessMs?: number;
  /** How long past what an intent may legitimately take an online agent may answer before it ends lost-agent. */
  answerMarginMs?: number;
  /** Budgets of undecided registrations (see PendingRegistrations); tests lower them to reach the bound quickly. */
  pendingLimits?: Partial<PendingLimits>;
  /** BUDGETS.rpcRequestUnitsPerSecond unless given (tests). */
  requestUnitsPerSecond?: number;
  log: pino.Logger;
  now?: () => number;
}

/** The control plane, wired: stores, registry, router, and the host side of every agent connection. */
export class Broker implements ConnectionHost {
  readonly events = new BrokerEventBus();
  readonly online = new OnlineAgents();
  readonly db: BrokerDatabase;
  readonly registry: AgentRegistry;
  readonly directory: AgentDirectory;
  readonly registrations: RegistrationService;
  readonly pending: PendingRegistrations;
  readonly router: IntentRouter;
  readonly intents: IntentStore;
  readonly users: UserService;
  readonly delegations: DelegationService;
  readonly approvals: ApprovalService;
  /** Each user's requests, across their sessions (bindRpc). */
  readonly requestRate: UserRequestRate;
  readonly keys: ActiveIdentity;
  readonly identities: IdentityService;
  readonly log: pino.Logger;
  readonly now: () => number;
  #hub?: HubServer;
  #hubUrl: string | null = null;
  readonly #flushLastSeen: NodeJS.Timeout;
  #closing = false;

  constructor(options: BrokerOptions) {
    this.keys = new ActiveIdentity(options.identity, options.authority ?? null);
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.db = openDatabase(join(options.dataDir, 'broker.db'));
    this.registry = new AgentRegistry(this.db);
    const policies = new PolicyStore(this.db);
    const intents = (this.intents = new IntentStore(this.db, this.now()));
    const approvalTimeoutMs = options.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    const tokens = new TokenUsageStore(this.db);
    const context: BrokerContext = { keys: this.keys, online: this.online, events: this.events, log: this.log, now: this.now };
    this.directory = new AgentDirectory({ ...context, registry: this.registry, policies, intents, tokens, approvalTimeoutMs });
    this.pending = new PendingRegistrations(this.registry, this.online, this.log, this.now, { ...DEFAULT_PENDING_LIMITS, ...options.pendingLimits });
    this.registrations = new RegistrationService({ ...context, registry: this.registry, policies, directory: this.directory });
    const userStore = new UserStore(this.db);
    this.users = new UserService({ ...context, users: userStore, invitations: new InvitationStore(this.db), localOperatorDid: options.localOperatorDid ?? null });
    this.delegations = new DelegationService({ ...context, grants: new GrantStore(this.db), users: userStore });
    this.router = new IntentRouter({
      ...context,
      registry: this.registry,
      directory: this.directory,
      intents,
      tokens,
      resends: new IntentResendStore(this.db),
      cancels: new PendingCancelStore(this.db),
      delegations: this.delegations,
      lostAgentGraceMs: options.lostAgentGraceMs,
      stalenessMs: options.stalenessMs,
      answerMarginMs: options.answerMarginMs,
    });
    this.requestRate = new UserRequestRate(this.now, options.requestUnitsPerSecond);
    this.approvals = new ApprovalService({ ...context, approvals: new ApprovalStore(this.db), intents, users: this.users, approvalTimeoutMs });
    this.identities = new IdentityService({ ...context, dataDir: options.dataDir, allowRootKey: options.allowRootKey ?? false, delegations: this.delegations });
    this.events.on('intentChanged', (intent) => {
      if (FINAL_INTENT_STATES.includes(intent.state)) this.approvals.onIntentFinal(intent);
    });
    this.events.on('userChanged', (user) => {
      if (user.removed) this.delegations.onUserRemoved(user.did);
      else this.delegations.onRoleChanged(user.did, user.role);
    });
    // A rotation taken up while the broker was stopped: its grants still carry the old id's signature.
    this.delegations.reissueStale();
    // Intents left in flight by a previous run: their agents have the grace period to come back.
    for (const did of intents.agentsWithIntentsInFlight()) this.router.onAgentGone(did);
    this.#flushLastSeen = setInterval(
      guarded((err) => audit(this.log).error('broker.internal-error', { what: 'flush-last-seen', err: (err as Error)?.message ?? String(err) }, 'could not write last-seen times'), () => this.registry.flushLastSeen()),
      LAST_SEEN_FLUSH_MS,
    );
    this.#flushLastSeen.unref();
  }

  async startHub(options: Omit<HubOptions, 'createConnection' | 'acceptRpc' | 'log'>): Promise<string> {
    this.#hub = new HubServer({
      ...options,
      log: this.log,
      createConnection: (sink, log) => new AgentConnection(this.keys, this, sink, log, this.now),
      acceptRpc: (socket, log, edge) => acceptWebSocketRpc(this, socket, log, edge),
    });
    const address = await this.#hub.listen();
    this.#hubUrl = `${options.tls ? 'wss' : 'ws'}://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
    return this.#hubUrl;
  }

  /** The online id in use now (a rotation replaces it while the broker runs). */
  get identity(): SecretIdentity {
    return this.keys.identity;
  }

  info(): BrokerInfo {
    const id = this.identity.id;
    const authority = this.keys.authority;
    const certificate = authority && certificateOf(authority);
    return {
      did: id.did,
      fingerprint: id.fingerprint,
      id: id.toBase64(),
      hubUrl: this.#hubUrl,
      root: authority && VaultysId.fromBytes(authority.root).did,
      certificate: certificate && { serial: certificate.serial, expiresAt: certificate.expiresAt },
    };
  }

  reloadIdentity(actor: string): BrokerInfo {
    this.identities.reload(actor);
    return this.info();
  }

  async close(): Promise<void> {
    this.approvals.close();
    this.#closing = true;
    await this.#hub?.close();
    this.router.close();
    clearInterval(this.#flushLastSeen);
    this.pending.close();
    this.registry.flushLastSeen();
    this.db.close();
  }

  admit(agent: VaultysId, connection: AgentConnection): ReturnType<ConnectionHost['admit']> {
    const existing = this.registry.get(agent.did);
    if (!existing) {
      const room = this.pending.room(connection.remote);
      if (!room.ok) return room;
    }
    if (existing?.status === 'rejected' || existing?.status === 'revoked') {
      audit(this.log).warn('auth.refused', { did: agent.did, reason: existing.status, detail: existing.statusReason }, 'refused a rejected or revoked agent');
      return { ok: false, message: `agent ${agent.did} is ${existing.status}`, ended: true };
    }
    return { ok: true, policy: this.directory.certifiedPolicy(agent.did, existing?.status ?? 'pending') };
  }

  authenticated(connection: AgentConnection, hello: AgentHello): void {
    const agent = connection.agent!;
    const confinedBefore = this.registry.get(agent.did)?.confinement ?? null;
    const { record, created } = this.registry.recordSeen(agent.did, agent.toBase64(), hello, this.now());
    this.#auditConfinementChange(connection, record.status === 'approved', confinedBefore, record.confinement);
    const renewal = this.online.get(agent.did) === connection;
    const replaced = this.online.add(agent.did, connection);
    // What was sent on the old connection is resent on this one (onAgentBack) and answered here.
    replaced?.close(CloseCode.Replaced, 'replaced by a newer connection');
    connection.send({ type: 'auth/accepted', status: record.status });
    if (record.status === 'approved') this.delegations.sendCurrentState(connection);
    // After the revocation list: what was signed under the policy this handshake certifies goes out now.
    if (renewal) connection.releaseRenewed();
    this.approvals.onRenewed(connection);
    if (record.status === 'approved' && !renewal) this.router.onAgentBack(connection);
    const certified = connection.certifiedPolicy;
    connection.auditConnection(
      {
        event: 'auth.succeeded',
        did: agent.did,
        status: record.status,
        policyVersion: certified?.policyVersion,
        // What the co-signed certificate lets its commands reach and use, and how the agent says it confines them.
        allowedDomains: certified?.allowedDomains,
        commandLimits: certified?.commandLimits,
        confinement: hello.confinement?.mode ?? 'unknown',
      },
      'agent authenticated',
    );
    const view = this.directory.view(record);
    if (created) {
      this.pending.created(agent.did, connection.remote);
      audit(this.log).info('registration.pending', { did: agent.did, name: hello.name, requested: hello.requested }, 'new agent awaits approval');
      this.events.emit('registrationChanged', view);
    }
    this.events.emit('agentChanged', view);
  }

  /**
   * One line when an agent's stated confinement changes (first report included), not one per handshake: a
   * warning when its commands leave the sandbox, so the audit log says from when a host ran them unconfined.
   */
  #auditConfinementChange(connection: AgentConnection, approved: boolean, before: Confinement | null, after: Confinement | null): void {
    if (JSON.stringify(before) === JSON.stringify(after)) return;
    const line: AuditLine<'agent.confinement'> = { event: 'agent.confinement', did: connection.did, mode: after?.mode ?? 'unknown', was: before?.mode ?? 'unknown', detail: after?.detail, ceilings: after?.ceilings };
    const message = after?.mode === 'sandboxed' ? "the agent's commands run in its sandbox" : after ? `the agent's commands are ${after.mode === 'unconfined' ? 'UNCONFINED' : 'refused: it has no sandbox'}` : 'the agent no longer says how it confines commands';
    // A registration not approved runs nothing, and strangers make those: within the refusal budget (auditConnection).
    if (!approved) connection.auditConnection(line, message);
    else audit(this.log).line(after?.mode === 'sandboxed' ? 'info' : 'warn', line, message);
  }

  result: ConnectionHost['result'] = (connection, result, envelope) => this.router.onResult(connection, result, envelope);
  progress: ConnectionHost['progress'] = (connection, progress) => this.router.onProgress(connection, progress);
  approvalRequest: ConnectionHost['approvalRequest'] = (connection, body, envelope) => this.approvals.onRequest(connection, body, envelope);
  pinMigrated: ConnectionHost['pinMigrated'] = (connection, root) => this.identities.pinMigrated(connection.did!, root);

  closed(connection: AgentConnection): void {
    const did = connection.did!;
    // A stopping broker leaves approvals and intents in flight as a killed one would: the next start takes them up
    // again (pending approvals stay pending, intents get the grace period), and its clients lose the broker itself.
    if (!this.#closing) this.approvals.onConnectionClosed(connection);
    if (!this.online.remove(did, connection)) return;
    connection.auditConnection({ event: 'agent.offline', did }, 'agent disconnected');
    if (this.#closing) return;
    this.router.onAgentGone(did);
    // Last: the clients' view of the agent is what may fail on its data (finding 1's overflow did), and the
    // agent's intents were already put in their grace period above.
    const view = this.directory.get(did);
    if (view) this.events.emit('agentChanged', view);
  }
}
