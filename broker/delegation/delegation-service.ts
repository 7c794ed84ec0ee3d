import type { Page, PageRequest } from '../../core/rpc/pages';
import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import { open, seal, type SealedEnvelope } from '../../core/identity';
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
import type { BrokerContext } from '../broker-context';

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
export interface DelegationServiceContext extends Pick<BrokerContext, 'keys' | 'online' | 'log' | 'now'> {
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
  /** Certificates signed for owners and admins, by user, agent and capability. */
  readonly #roleCertificates = new Map<string, { certificate: SealedEnvelope; body: DelegationBody }>();
  /**
   * Role certificates of users who lost the role, by id, until they expire: listed with the revoked grants so
   * that a running task of a demoted admin stops at its next step, as one of a revoked grant does. Kept in
   * memory only, like the certificates themselves: each lives at most its task plus ROLE_CERTIFICATE_REUSE_MS.
   */
  readonly #revokedRoleCertificates = new Map<string, number>();

  private readonly keys: ActiveIdentity;
  private readonly grants: GrantStore;
  private readonly users: UserStore;
  private readonly online: OnlineAgents;
  private readonly log: pino.Logger;
  private readonly now: () => number;

  constructor(c: DelegationServiceContext) {
    ({ keys: this.keys, grants: this.grants, users: this.users, online: this.online, log: this.log, now: this.now } = c);
  }

  grant(actor: string, request: { user: string; agent: string; capabilities: Capability[]; validForMs: number }): GrantView {
    if (!this.users.active(request.user)) throw notFound(`user ${request.user}`);
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
    const record = this.grants.add(body, actor, certificate);
    audit(this.log).info('delegation.issued', { actor, grant: body.id, user: body.user, agent: body.agent, capabilities: body.capabilities, expiresAt: body.expiresAt }, 'delegation certificate issued');
    for (const connection of this.#concerned(body.agent)) connection.send({ type: 'delegation', envelope: certificate });
    return grantView(record);
  }

  revoke(actor: string, id: string): GrantView {
    const grant = this.grants.get(id);
    if (!grant) throw notFound(`grant ${id}`);
    if (!this.grants.revoke(id, this.now())) throw conflict(`grant ${id} is already revoked`);
    audit(this.log).info('delegation.revoked', { actor, grant: id, user: grant.user, agent: grant.agent }, 'grant revoked');
    this.#publishRevocations();
    return grantView(this.grants.get(id)!);
  }

  page(user: string | undefined, page: PageRequest): Page<GrantView> {
    return this.grants.page(user, page, grantView);
  }

  /** A removed user's certificates all stop working: the list gets a new version naming them. */
  onUserRemoved(did: string): void {
    this.#roleCertificates.clear();
    this.grants.bumpVersion();
    audit(this.log).info('delegation.user-revoked', { did }, 'every delegation of a removed user is revoked');
    this.#publishRevocations();
  }

  /** A user who is no longer an owner or admin loses every certificate their role earned, at once. */
  onRoleChanged(did: string, role: Role): void {
    if (role === 'owner' || role === 'admin') return;
    let revoked = 0;
    for (const [key, held] of this.#roleCertificates) {
      if (held.body.user !== did) continue;
      this.#revokedRoleCertificates.set(held.body.id, held.body.expiresAt);
      this.#roleCertificates.delete(key);
      revoked++;
    }
    if (revoked === 0) return;
    this.grants.bumpVersion();
    audit(this.log).info('delegation.role-revoked', { did, role, certificates: revoked }, "the certificates a user's former role earned are revoked");
    this.#publishRevocations();
  }

  /** Revoked grants and revoked role certificates that have not expired yet. */
  #revokedIds(now: number): string[] {
    for (const [id, expiresAt] of this.#revokedRoleCertificates) if (expiresAt <= now) this.#revokedRoleCertificates.delete(id);
    return [...this.grants.revokedIds(now), ...this.#revokedRoleCertificates.keys()];
  }

  /** The current state of revocations, as an agent would hold it after verifying the list. */
  revocationState(): RevocationState {
    // Read again only when the list's version moves (a grant revoked, a user removed). Revoked ids that
    // expire meanwhile stay in the set: an expired certificate is refused on its own anyway.
    const version = this.grants.version();
    if (this.#revocations?.version !== version) {
      this.#revocations = { version, delegations: new Set(this.#revokedIds(this.now())), users: new Set(this.users.removedDids()) };
    }
    return this.#revocations;
  }

  /** A new list version, pushed to every connected agent: a revoked certificate stops working even where others remain. */
  #publishRevocations(): void {
    const envelope = this.revocationList();
    for (const connection of this.online.all()) connection.send({ type: 'revocations', envelope });
    audit(this.log).info('revocations.published', { version: this.#list!.version }, 'revocation list published');
  }

  revocationList(): SealedEnvelope {
    const version = this.grants.version();
    if (this.#list?.version !== version) {
      const body: RevocationListBody = {
        version,
        issuedAt: this.now(),
        delegations: this.#revokedIds(this.now()),
        users: this.users.removedDids(),
      };
      this.#list = { version, envelope: seal(this.keys.identity, 'vaultysclaw/revocation-list/v1', body) };
    }
    return this.#list.envelope;
  }

  /**
   * After a rotation (while running, or before this start): every live
   * grant whose certificate the current id did not sign is signed again, same
   * body, so agents need the old id for nothing but the grace period the root
   * set. Revoked and expired grants keep their old certificate: nothing will
   * ever accept them again anyway.
   */
  reissueStale(): number {
    const now = this.now();
    const id = this.keys.identity.id;
    const stale = this.grants.list().filter((g) => g.revokedAt === null && g.expiresAt > now && !open(id, 'vaultysclaw/delegation/v1', g.certificate).ok);
    this.grants.replaceCertificates(
      stale.map((g) => {
        const body: DelegationBody = { id: g.id, user: g.user, agent: g.agent, capabilities: g.capabilities, issuedAt: g.issuedAt, expiresAt: g.expiresAt };
        return { id: g.id, certificate: seal(this.keys.identity, 'vaultysclaw/delegation/v1', body) };
      }),
    );
    // A cached list may be signed by the old id.
    this.#list = undefined;
    if (stale.length > 0) audit(this.log).info('delegation.reissued', { count: stale.length, by: id.did }, 'live delegation certificates re-issued under the current broker id');
    return stale.length;
  }

  /** After an agent authenticates: the current list, and every live certificate that concerns it. */
  sendCurrentState(connection: AgentConnection): void {
    connection.send({ type: 'revocations', envelope: this.revocationList() });
    const now = this.now();
    for (const grant of this.grants.list()) {
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
  delegationFor(
    user: string,
    role: Role,
    agent: string,
    capability: Capability,
    until: number,
    alsoFor: readonly Capability[] = [],
    /** False for the dry run (policy/test): the body a certificate would have, unsigned, and nothing kept. */
    mint = true,
  ): DelegationChoice {
    const revocationVersion = this.grants.version();
    if (role === 'owner' || role === 'admin') {
      const capabilities = [...new Set([capability, ...alsoFor])].sort();
      const signer = this.keys.identity;
      const key = `${signer.did} ${user} ${agent} ${capabilities.join(',')}`;
      let held = this.#roleCertificates.get(key);
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
        if (this.#roleCertificates.size >= MAX_ROLE_CERTIFICATES) this.#roleCertificates.clear();
        held = { certificate: seal(signer, 'vaultysclaw/delegation/v1', body), body };
        this.#roleCertificates.set(key, held);
      }
      return { ok: true, certificate: held.certificate, revocationVersion, signedHere: held.body };
    }
    const grants = this.grants.activeFor(user, this.now());
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

