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
import { AgentConnection, type AdmitDecision, type ConnectionHost } from './hub/agent-connection';
import { HubServer, type HubOptions } from './hub/hub-server';
import { IntentRouter } from './intents/intent-router';
import { acceptWebSocketRpc } from './rpc/websocket-rpc';
import { AgentRegistry } from './store/agent-registry';
import { openBrokerStorage } from './store/sql/broker-storage';
import type { Storage } from './store/sql/storage';
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
import { UserRequestsInFlight } from './rpc/user-requests-in-flight';
import type { ClusterBus } from './cluster/cluster-bus';
import { ClusterNode } from './cluster/cluster-node';
import { SingleNodeBus } from './cluster/single-node-bus';

export const DEFAULT_APPROVAL_TIMEOUT_MS = 10 * 60_000;
/** How often agents' last_seen times kept in memory are written (and at shutdown). */
const LAST_SEEN_FLUSH_MS = 30_000;
/**
 * How often a node of a cluster looks for intents in flight whose agent no node holds (IntentRouter.adoptOrphans):
 * an agent that died with its node has its intents ended within this and the lost-agent grace period.
 */
const ORPHAN_SWEEP_MS = 10_000;
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
  /** PostgreSQL's URL (`broker start --database`): the broker's state there, and no broker.db. Never logged. */
  databaseUrl?: string;
  /** The other nodes of a cluster (issue 20), sharing `databaseUrl`; a single broker when absent. Closed with the broker. */
  cluster?: ClusterBus;
  log: pino.Logger;
  now?: () => number;
}

/** The control plane, wired: stores, registry, router, and the host side of every agent connection. */
export class Broker implements ConnectionHost {
  readonly events = new BrokerEventBus();
  readonly cluster: ClusterBus;
  readonly #node: ClusterNode;
  readonly online = new OnlineAgents();
  /** Every store's queries, on SQLite (the data directory's broker.db) or PostgreSQL. */
  readonly storage: Storage;
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
  readonly requestsInFlight: UserRequestsInFlight;
  readonly keys: ActiveIdentity;
  readonly identities: IdentityService;
  readonly log: pino.Logger;
  readonly now: () => number;
  #hub?: HubServer;
  #hubUrl: string | null = null;
  readonly #flushLastSeen: NodeJS.Timeout;
  readonly #sweepOrphans?: NodeJS.Timeout;
  #closing = false;

  /**
   * Opens the data directory's database, takes up what a previous run left (grants signed by a replaced id, intents
   * in flight), and returns the broker, ready for startHub.
   */
  static async open(options: BrokerOptions): Promise<Broker> {
    const now = options.now ?? Date.now;
    const storage = await openBrokerStorage(options.dataDir, options.databaseUrl);
    try {
      const broker = new Broker(options, storage, await IntentStore.open(storage, now()));
      await broker.#resume();
      return broker;
    } catch (err) {
      await storage.close();
      throw err;
    }
  }

  /** Wiring only: Broker.open does the I/O. */
  private constructor(options: BrokerOptions, storage: Storage, intents: IntentStore) {
    this.keys = new ActiveIdentity(options.identity, options.authority ?? null);
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.storage = storage;
    this.intents = intents;
    this.registry = new AgentRegistry(this.storage);
    const policies = new PolicyStore(this.storage);
    const approvalTimeoutMs = options.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS;
    const tokens = new TokenUsageStore(storage);
    this.cluster = options.cluster ?? new SingleNodeBus();
    const context: BrokerContext = { keys: this.keys, online: this.online, events: this.events, cluster: this.cluster, log: this.log, now: this.now };
    this.directory = new AgentDirectory({ ...context, registry: this.registry, policies, intents, tokens, approvalTimeoutMs });
    this.pending = new PendingRegistrations(this.registry, this.online, this.log, this.now, { ...DEFAULT_PENDING_LIMITS, ...options.pendingLimits });
    this.registrations = new RegistrationService({ ...context, registry: this.registry, policies, directory: this.directory });
    const userStore = new UserStore(this.storage);
    this.users = new UserService({ ...context, users: userStore, invitations: new InvitationStore(this.storage), localOperatorDid: options.localOperatorDid ?? null });
    this.delegations = new DelegationService({ ...context, grants: new GrantStore(this.storage), users: userStore });
    this.router = new IntentRouter({
      ...context,
      registry: this.registry,
      directory: this.directory,
      intents,
      tokens,
      resends: new IntentResendStore(this.storage),
      cancels: new PendingCancelStore(this.storage),
      delegations: this.delegations,
      lostAgentGraceMs: options.lostAgentGraceMs,
      stalenessMs: options.stalenessMs,
      answerMarginMs: options.answerMarginMs,
    });
    this.requestRate = new UserRequestRate(this.now, options.requestUnitsPerSecond);
    this.requestsInFlight = new UserRequestsInFlight(this.now);
    this.approvals = new ApprovalService({
      ...context,
      approvals: new ApprovalStore(this.storage),
      intents,
      users: this.users,
      approvalTimeoutMs,
      storedPolicyOf: async (did) => ((await this.registry.get(did))?.status === 'approved' ? this.directory.certifiedPolicy(did, 'approved') : undefined),
    });
    this.identities = new IdentityService({ ...context, dataDir: options.dataDir, allowRootKey: options.allowRootKey ?? false, delegations: this.delegations });
    // Emitted from a frame or a request that already answered: a failure here is audited, never thrown back into it.
    const internal = (what: string) => (err: unknown) => audit(this.log).error('broker.internal-error', { what, err: (err as Error)?.message ?? String(err) }, 'broker failed handling an event');
    this.events.on(
      'intentChanged',
      guarded(internal('intent-final'), async (intent) => {
        if (FINAL_INTENT_STATES.includes(intent.state)) await this.approvals.onIntentFinal(intent);
      }),
    );
    this.events.on(
      'userChanged',
      guarded(internal('user-changed'), async (user) => {
        if (user.removed) await this.delegations.onUserRemoved(user.did);
        else await this.delegations.onRoleChanged(user.did, user.role);
      }),
    );
    this.#node = new ClusterNode(this);
    this.#flushLastSeen = setInterval(
      guarded((err) => audit(this.log).error('broker.internal-error', { what: 'flush-last-seen', err: (err as Error)?.message ?? String(err) }, 'could not write last-seen times'), () => this.registry.flushLastSeen()),
      LAST_SEEN_FLUSH_MS,
    );
    this.#flushLastSeen.unref();
    // One broker holds every grace period it needs; a node of a cluster may outlive the one that held an agent.
    if (options.cluster) {
      let sweeping = false;
      this.#sweepOrphans = setInterval(
        guarded(internal('sweep-orphans'), async () => {
          if (sweeping) return;
          sweeping = true;
          try {
            await this.router.adoptOrphans();
          } finally {
            sweeping = false;
          }
        }),
        ORPHAN_SWEEP_MS,
      );
      this.#sweepOrphans.unref();
      this.#node.start();
    }
  }

  /** What a previous run left, taken up before the hub listens. */
  async #resume(): Promise<void> {
    // A rotation taken up while the broker was stopped: its grants still carry the old id's signature.
    await this.delegations.reissueStale();
    // Intents left in flight by a previous run: their agents have the grace period to come back (in a cluster,
    // those whose agent another node holds are left to it).
    await this.router.adoptOrphans();
  }

  /** The hub's listener, for readiness and metrics; not listening before startHub or after close. */
  hubStatus(): ReturnType<HubServer['status']> {
    return this.#hub?.status() ?? { listening: false, sockets: 0, webSockets: 0 };
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

  async reloadIdentity(actor: string): Promise<BrokerInfo> {
    await this.identities.reload(actor);
    return this.info();
  }

  async close(): Promise<void> {
    this.approvals.close();
    this.#closing = true;
    await this.#hub?.close();
    this.router.close();
    clearInterval(this.#flushLastSeen);
    clearInterval(this.#sweepOrphans);
    this.#node.stop();
    this.pending.close();
    await this.registry.flushLastSeen();
    await this.cluster.close();
    // Intent writes still gathering in a group (a result that arrived as the hub closed) commit before the close.
    await this.intents.settled();
    await this.storage.close();
  }

  async admit(agent: VaultysId, connection: AgentConnection): Promise<AdmitDecision> {
    const existing = await this.registry.get(agent.did);
    if (!existing) {
      const room = await this.pending.room(connection.remote);
      if (!room.ok) return room;
    }
    if (existing?.status === 'rejected' || existing?.status === 'revoked') {
      connection.auditAdmission({ event: 'auth.refused', did: agent.did, reason: existing.status, detail: existing.statusReason }, 'refused a rejected or revoked agent');
      return { ok: false, message: `agent ${agent.did} is ${existing.status}`, ended: true, audited: true };
    }
    return { ok: true, policy: await this.directory.certifiedPolicy(agent.did, existing?.status ?? 'pending') };
  }

  async authenticated(connection: AgentConnection, hello: AgentHello): Promise<void> {
    const agent = connection.agent!;
    const confinedBefore = (await this.registry.get(agent.did))?.confinement ?? null;
    const { record, created } = await this.registry.recordSeen(agent.did, agent.toBase64(), hello, this.now());
    this.#auditConfinementChange(connection, record.status === 'approved', confinedBefore, record.confinement);
    const renewal = this.online.get(agent.did) === connection;
    const replaced = this.online.add(agent.did, connection);
    // What was sent on the old connection is resent on this one (onAgentBack) and answered here.
    replaced?.close(CloseCode.Replaced, 'replaced by a newer connection');
    if (!renewal) this.#node.serve(connection);
    connection.send({ type: 'auth/accepted', status: record.status });
    if (record.status === 'approved') await this.delegations.sendCurrentState(connection);
    // After the revocation list: what was signed under the policy this handshake certifies goes out now.
    if (renewal) connection.releaseRenewed();
    this.approvals.onRenewed(connection);
    if (record.status === 'approved' && !renewal) await this.router.onAgentBack(connection);
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
    const view = await this.directory.view(record);
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
  progress: ConnectionHost['progress'] = (connection, progress, envelope) => this.router.onProgress(connection, progress, envelope);
  approvalRequest: ConnectionHost['approvalRequest'] = (connection, body, envelope) => this.approvals.onRequest(connection, body, envelope);
  pinMigrated: ConnectionHost['pinMigrated'] = (connection, root) => this.identities.pinMigrated(connection.did!, root);

  async closed(connection: AgentConnection): Promise<void> {
    const did = connection.did!;
    // A stopping broker leaves approvals and intents in flight as a killed one would: the next start takes them up
    // again (pending approvals stay pending, intents get the grace period), and its clients lose the broker itself.
    if (!this.#closing) await this.approvals.onConnectionClosed(connection);
    if (!this.online.remove(did, connection)) return;
    this.#node.left(did);
    connection.auditConnection({ event: 'agent.offline', did }, 'agent disconnected');
    if (this.#closing) return;
    await this.router.onAgentGone(did);
    // Last: the clients' view of the agent is what may fail on its data (finding 1's overflow did), and the
    // agent's intents were already put in their grace period above.
    const view = await this.directory.get(did);
    if (view) this.events.emit('agentChanged', view);
  }
}
