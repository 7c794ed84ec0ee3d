import type { Page, PageRequest } from '../../core/rpc/pages';
import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import { open, seal, VaultysId, type SealedEnvelope } from '../../core/identity';
import type { Role } from '../../core/rpc/roles';
import type { GrantView } from '../../core/rpc/views';
import type { DelegationBody, RevocationListBody } from '../../core/wire/delegation';
import type { RejectionReason } from '../../core/wire/intent';
import type { Capability } from '../../core/wire/policy';
import type { RevocationState } from '../../core/policy/delegation-gate';
import type { OnlineAgents } from '../agents/online-agents';
import type { AgentConnection } from '../hub/agent-connection';
import type { ActiveIdentity } from '../identity/active-identity';
import { conflict, notFound } from '../rpc/rpc-failure';
import type { GrantRecord, GrantStore } from '../store/grant-store';
import type { UserStore } from '../store/user-store';
import { audit } from '../audit/audit-log';
import { BUDGETS } from '../../core/budgets';
import type { BrokerContext } from '../broker-context';
import type { ClusterBus } from '../cluster/cluster-bus';
import { SingleNodeBus } from '../cluster/single-node-bus';
import { certificateOf } from '../identity/identity-service';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

const grantView = (g: GrantRecord): GrantView => ({
  id: g.id,
  user: g.user,
  agent: g.agent,
  capabilities: g.capabilities,
  issuedBy: g.issuedBy,
  issuedAt: g.issuedAt,
  expiresAt: g.expiresAt,
  revoked: g.revokedAt !== null,
  certificate: { payload: b64(g.certificate.payload), signature: b64(g.certificate.signature) },
});

export type DelegationChoice =
  /** `signedHere`: the body of a certificate this process signed and kept in memory, so its signature needs no check. */
  | { ok: true; certificate: SealedEnvelope; revocationVersion: number; signedHere?: DelegationBody }
  | { ok: false; reason: RejectionReason; message: string };

/** How long past the intent that asked for it a role certificate lives, so one signature serves the intents of the next minutes. */
const ROLE_CERTIFICATE_REUSE_MS = 5 * 60_000;
/** Bound on the role certificates kept (user x agent x capability); past it the cache starts over. */
const MAX_ROLE_CERTIFICATES = 10_000;

/** What DelegationService works with, handed over by Broker as one object. */
export interface DelegationServiceContext extends Pick<BrokerContext, 'keys' | 'online' | 'log' | 'now' | 'cluster'> {
  grants: GrantStore;
  users: UserStore;
}

/**
 * Users never authorise agents directly (seed control 7): the broker checks a
 * user's role and grant, then signs a delegation certificate the agent
 * verifies offline. Revocations reach connected agents at once as a signed,
 * versioned list.
 */
export class DelegationService {
  #list?: { version: number; envelope: SealedEnvelope };
  #revocations?: RevocationState;
  /**
   * Certificates signed for owners and admins, by user, agent and capability, for reuse. Each is also recorded in the
   * database (GrantStore.addRoleCertificate), where any node revokes it when its user loses the role: a list signed
   * by another node, or by this one after a restart, names it as well as one this process signed.
   */
  readonly #roleCertificates = new Map<string, { certificate: SealedEnvelope; body: DelegationBody }>();

  private readonly keys: ActiveIdentity;
  private readonly grants: GrantStore;
  private readonly users: UserStore;
  private readonly online: OnlineAgents;
  private readonly cluster: ClusterBus;
  private readonly log: pino.Logger;
  private readonly now: () => number;

  constructor(c: DelegationServiceContext) {
    ({ keys: this.keys, grants: this.grants, users: this.users, online: this.online, cluster: this.cluster, log: this.log, now: this.now } = c);
  }

  async grant(actor: string, request: { user: string; agent: string; capabilities: Capability[]; validForMs: number }): Promise<GrantView> {
    if (!(await this.users.active(request.user))) throw notFound(`user ${request.user}`);
    const now = this.now();
    const body: DelegationBody = {
      id: randomBytes(16).toString('hex'),
      user: request.user,
      agent: request.agent,
      capabilities: [...new Set(request.capabilities)],
      issuedAt: now,
      expiresAt: now + request.validForMs,
    };
    const certificate = seal(this.keys.identity, 'vaultysclaw/delegation/v1', body);
    const record = await this.grants.add(body, actor, certificate);
    audit(this.log).info('delegation.issued', { actor, grant: body.id, user: body.user, agent: body.agent, capabilities: body.capabilities, expiresAt: body.expiresAt }, 'delegation certificate issued');
    for (const connection of this.#concerned(body.agent)) connection.send({ type: 'delegation', envelope: certificate });
    return grantView(record);
  }

  async revoke(actor: string, id: string): Promise<GrantView> {
    const grant = await this.grants.get(id);
    if (!grant) throw notFound(`grant ${id}`);
    if (!(await this.grants.revoke(id, this.now()))) throw conflict(`grant ${id} is already revoked`);
    audit(this.log).info('delegation.revoked', { actor, grant: id, user: grant.user, agent: grant.agent }, 'grant revoked');
    await this.#publishRevocations();
    return grantView((await this.grants.get(id))!);
  }

  async page(user: string | undefined, page: PageRequest): Promise<Page<GrantView>> {
    return this.grants.page(user, page, grantView);
  }

  /** A removed user's certificates all stop working: the list gets a new version naming them. */
  async onUserRemoved(did: string): Promise<void> {
    this.#roleCertificates.clear();
    await this.grants.bumpVersion();
    audit(this.log).info('delegation.user-revoked', { did }, 'every delegation of a removed user is revoked');
    await this.#publishRevocations();
  }

  /**
   * A user who is no longer an owner or admin loses every certificate their role earned, at once, whichever node
   * signed it (a running task of a demoted admin stops at its next step, as one of a revoked grant does).
   */
  async onRoleChanged(did: string, role: Role): Promise<void> {
    if (role === 'owner' || role === 'admin') return;
    for (const [key, held] of this.#roleCertificates) if (held.body.user === did) this.#roleCertificates.delete(key);
    const revoked = await this.grants.revokeRoleCertificates(did, this.now());
    if (revoked === 0) return;
    audit(this.log).info('delegation.role-revoked', { did, role, certificates: revoked }, "the certificates a user's former role earned are revoked");
    await this.#publishRevocations();
  }

  /**
   * A user removed, or whose role changed, on another node of the cluster: this node keeps none of their role
   * certificates for reuse. The node that changed the role revoked them in the database already, so revoking here
   * too finds nothing, unless that node failed to (its database call failed, or it stopped between the role's write
   * and the revocation's). A removal is in every node's list already (read from the users).
   */
  async onPeerUserChanged(did: string, role: Role | null): Promise<void> {
    if (role !== null) return this.onRoleChanged(did, role);
    for (const [key, held] of this.#roleCertificates) if (held.body.user === did) this.#roleCertificates.delete(key);
  }

  /** The current state of revocations, as an agent would hold it after verifying the list. */
  async revocationState(): Promise<RevocationState> {
    // Read again only when the list's version moves (a grant revoked, a user removed). Revoked ids that
    // expire meanwhile stay in the set: an expired certificate is refused on its own anyway. The version is read
    // first: what is read after it is at least that recent, so a state is never older than its version says.
    const version = await this.grants.version();
    if (this.#revocations?.version !== version) {
      const state = { version, delegations: new Set(await this.grants.revokedIds(this.now())), users: new Set(await this.users.removedDids()) };
      if (this.#revocations === undefined || this.#revocations.version <= version) this.#revocations = state;
      return state;
    }
    return this.#revocations;
  }

  /**
   * A new list version, pushed to every connected agent: a revoked certificate stops working even where others
   * remain. The other nodes of a cluster are told its version and push it to theirs (revocationsFromPeer).
   */
  async #publishRevocations(): Promise<void> {
    const version = await this.#pushRevocations();
    this.cluster.broadcast({ kind: 'revocations', version });
  }

  /** Another node of the cluster published a list: the current one, read again here, goes to this node's agents. */
  async revocationsFromPeer(): Promise<void> {
    await this.#pushRevocations();
  }

  async #pushRevocations(): Promise<number> {
    const { version, envelope } = await this.#currentList();
    const start = performance.now();
    const agents = this.online.all();
    for (const connection of agents) connection.send({ type: 'revocations', envelope });
    // How many agents were told and how long handing the list to their sockets took: a revocation's reach.
    audit(this.log).info('revocations.published', { version, agents: agents.length, fanOutMs: performance.now() - start }, 'revocation list published');
    return version;
  }

  async revocationList(): Promise<SealedEnvelope> {
    return (await this.#currentList()).envelope;
  }

  async #currentList(): Promise<{ version: number; envelope: SealedEnvelope }> {
    const version = await this.grants.version();
    if (this.#list?.version === version) return this.#list;
    const body: RevocationListBody = {
      version,
      issuedAt: this.now(),
      delegations: await this.grants.revokedIds(this.now()),
      users: await this.users.removedDids(),
    };
    const list = { version, envelope: seal(this.keys.identity, 'vaultysclaw/revocation-list/v1', body) };
    // Two publishers racing: the newer version stays cached, never an older one over it.
    if (this.#list === undefined || this.#list.version <= version) this.#list = list;
    return list;
  }

  /**
   * After a rotation (while running, or before this start): every live
   * grant whose certificate an older id signed is signed again, same body, so
   * agents need the old id for nothing but the grace period the root set.
   * Revoked and expired grants keep their old certificate: nothing will ever
   * accept them again anyway. In a cluster, "older" is the id this node's
   * certificate supersedes, nothing else: another node may already hold a newer
   * id (this one not yet adopted, or restarted on its old files) and have
   * re-signed under it, and a signature this node cannot check may be that one.
   */
  async reissueStale(): Promise<number> {
    const now = this.now();
    const id = this.keys.identity.id;
    const older = this.#olderSigner();
    const stale = (await this.grants.list()).filter(
      (g) => g.revokedAt === null && g.expiresAt > now && !open(id, 'vaultysclaw/delegation/v1', g.certificate).ok && older(g.certificate),
    );
    const reissued = await this.grants.replaceCertificates(
      stale.map((g) => {
        const body: DelegationBody = { id: g.id, user: g.user, agent: g.agent, capabilities: g.capabilities, issuedAt: g.issuedAt, expiresAt: g.expiresAt };
        return { id: g.id, certificate: seal(this.keys.identity, 'vaultysclaw/delegation/v1', body), replaces: g.certificate };
      }),
    );
    // A cached list may be signed by the old id.
    this.#list = undefined;
    if (reissued > 0) audit(this.log).info('delegation.reissued', { count: reissued, by: id.did }, 'live delegation certificates re-issued under the current broker id');
    return reissued;
  }

  /** Whether a certificate not signed by the current id was signed by an id it replaced (see reissueStale). */
  #olderSigner(): (certificate: SealedEnvelope) => boolean {
    // Alone, no other signer exists: whatever the current id did not sign is older.
    if (this.cluster instanceof SingleNodeBus) return () => true;
    const authority = this.keys.authority;
    const predecessor = authority && certificateOf(authority).supersedes;
    if (!predecessor) return () => false;
    const previous = VaultysId.fromBytes(predecessor.id);
    return (certificate) => open(previous, 'vaultysclaw/delegation/v1', certificate).ok;
  }

  /** After an agent authenticates: the current list, and every live certificate that concerns it. */
  async sendCurrentState(connection: AgentConnection): Promise<void> {
    const revocations = await this.revocationList();
    const grants = await this.grants.list();
    connection.send({ type: 'revocations', envelope: revocations });
    const now = this.now();
    for (const grant of grants) {
      if (grant.revokedAt === null && grant.expiresAt > now && (grant.agent === '*' || grant.agent === connection.did)) {
        connection.send({ type: 'delegation', envelope: grant.certificate });
      }
    }
  }

  /**
   * The certificate an intent carries. Operators need a grant covering this
   * agent (or all) and this capability; owners and admins are authorised by
   * their role, so the broker signs them a certificate for this agent and
   * these capabilities only (the intent's, and for a task the tools its model
   * calls; an operator's grant must cover each of those itself, which the agent
   * checks per call). It is reused while it outlives the intent's work (`until`):
   * the role is checked at every request before this is asked, a removed user is
   * on the revocation list, and the key names the signing id, so a rotation
   * never hands out a certificate of the replaced id.
   */
  async delegationFor(
    user: string,
    role: Role,
    agent: string,
    capability: Capability,
    until: number,
    alsoFor: readonly Capability[] = [],
    /** False for the dry run (policy/test): the body a certificate would have, unsigned, and nothing kept. */
    mint = true,
  ): Promise<DelegationChoice> {
    const revocationVersion = await this.grants.version();
    if (role === 'owner' || role === 'admin') {
      const capabilities = [...new Set([capability, ...alsoFor])].sort();
      const signer = this.keys.identity;
      const key = `${signer.did} ${user} ${agent} ${capabilities.join(',')}`;
      let held = this.#roleCertificates.get(key);
      // Revoked meanwhile by another node (the user demoted and promoted again before this node heard): signed anew.
      if (held && (await this.revocationState()).delegations.has(held.body.id)) held = undefined;
      if (!mint && (!held || held.body.expiresAt < until)) {
        const body: DelegationBody = { id: 'dry-run', user, agent, capabilities, issuedAt: this.now(), expiresAt: until + ROLE_CERTIFICATE_REUSE_MS };
        return { ok: true, certificate: { payload: new Uint8Array(), signature: new Uint8Array() }, revocationVersion, signedHere: body };
      }
      if (!held || held.body.expiresAt < until) {
        const body: DelegationBody = {
          id: randomBytes(16).toString('hex'),
          user,
          agent,
          capabilities,
          issuedAt: this.now(),
          expiresAt: until + ROLE_CERTIFICATE_REUSE_MS,
        };
        const recorded = await this.grants.addRoleCertificate(body, this.now());
        if (recorded === 'no-role') return { ok: false, reason: 'delegation-missing', message: `user ${user} is no longer an owner or admin` };
        if (recorded === 'full') {
          audit(this.log).warn('delegation.role-certificates-full', { user, agent, limit: BUDGETS.roleCertificatesLive.limit }, 'no role certificate signed: as many live as the budget allows');
          return { ok: false, reason: 'rate-limited', message: `${BUDGETS.roleCertificatesLive.limit} role certificates live already: try again when some expire` };
        }
        if (this.#roleCertificates.size >= MAX_ROLE_CERTIFICATES) this.#roleCertificates.clear();
        held = { certificate: seal(signer, 'vaultysclaw/delegation/v1', body), body };
        this.#roleCertificates.set(key, held);
      }
      return { ok: true, certificate: held.certificate, revocationVersion, signedHere: held.body };
    }
    const grants = await this.grants.activeFor(user, this.now());
    if (grants.length === 0) return { ok: false, reason: 'delegation-missing', message: `user ${user} holds no grant` };
    const forAgent = grants.filter((g) => g.agent === '*' || g.agent === agent);
    if (forAgent.length === 0) return { ok: false, reason: 'delegation-wrong-agent', message: `no grant of user ${user} covers agent ${agent}` };
    const match = forAgent.find((g) => g.capabilities.includes(capability));
    if (!match) return { ok: false, reason: 'delegation-capability', message: `no grant of user ${user} covers ${capability}` };
    return { ok: true, certificate: match.certificate, revocationVersion };
  }

  #concerned(agent: string): AgentConnection[] {
    if (agent !== '*') return [this.online.get(agent)].filter((c): c is AgentConnection => c !== undefined);
    return this.online.all();
  }
}

