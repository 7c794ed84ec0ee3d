import type { Page, PageRequest } from '../../core/rpc/pages';
import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import { IdType, type VaultysId } from '../../core/identity';
import { mayAssign, mayManage, type Role } from '../../core/rpc/roles';
import type { UserHello } from '../../core/rpc/user-auth';
import type { InvitationView, UserView } from '../../core/rpc/views';
import type { BrokerEventBus } from '../events';
import { conflict, forbidden, invalid, notFound } from '../rpc/rpc-failure';
import type { RpcErrorReason } from '../../core/rpc/rpc-error';
import { hashToken, type InvitationRecord, type InvitationStore } from '../store/invitation-store';
import type { UserRecord, UserStore } from '../store/user-store';
import { displayName, nameKey, visibleText } from '../../core/text/untrusted-text';
import { audit } from '../audit/audit-log';
import type { BrokerContext } from '../broker-context';

/** A refusal says why in `reason` (what the client branches on) and `message` (what a person reads). */
export type Refusal = { ok: false; reason: RpcErrorReason; message: string };
export type Admission = { ok: true; role: Role } | Refusal;
/** A DID the broker does not know yet, admitted: by invitation, or as the first owner (`firstOwner`: only while nobody else joined). */
type Newcomer = { ok: true; role: Role; invitation?: InvitationRecord; firstOwner?: boolean };

/**
 * Where a session comes from: `host` is the broker host itself (its owner-only local socket, or the stdio of
 * the editor that started the broker), `network` is the hub's /rpc endpoint, open to anyone who reaches the port.
 */
export type RpcOrigin = 'host' | 'network';

const userView = (u: UserRecord): UserView => ({
  did: u.did,
  name: u.name,
  role: u.role,
  roleSetBy: u.roleSetBy,
  invitedBy: u.invitedBy,
  removed: u.removedAt !== null,
  createdAt: u.createdAt,
  lastSeen: u.lastSeen,
});

const NO_OWNER_YET =
  'this broker has no owner yet: its first owner is enrolled on the broker host (its local socket, or the editor that started it), never over the network';

/** What UserService works with, handed over by Broker as one object. */
export interface UserServiceContext extends Pick<BrokerContext, 'events' | 'log' | 'now'> {
  users: UserStore;
  invitations: InvitationStore;
  /**
   * The broker host's local operator (operator.key beside broker.key): always
   * admitted as an owner, since whoever can read that directory holds the
   * broker's own key anyway. It keeps the host's CLI working however the
   * first remote user enrolled, and it may demote or remove any owner.
   */
  localOperatorDid?: string | null;
}

/**
 * Users, their roles and invitations. The first owner of a fresh broker is a principal of its host (the
 * operator key, or the first user proven over the local socket or stdio), never whoever reaches the network
 * port first; others need an invitation. Names are set once, unique, and changed only by an admin.
 */
export class UserService {
  private readonly users: UserStore;
  private readonly invitations: InvitationStore;
  private readonly events: BrokerEventBus;
  private readonly log: pino.Logger;
  private readonly now: () => number;
  private readonly localOperatorDid: string | null;

  constructor(c: UserServiceContext) {
    ({
      users: this.users,
      invitations: this.invitations,
      events: this.events,
      log: this.log,
      now: this.now,
      localOperatorDid: this.localOperatorDid = null,
    } = c);
  }

  /** At INIT, before the broker signs: would this id be let in? Nothing is consumed yet. */
  async preview(id: VaultysId, hello: UserHello, origin: RpcOrigin): Promise<Admission> {
    if (id.type !== IdType.Person) return { ok: false, reason: 'not-a-person', message: 'users prove a person id' };
    const user = await this.users.get(id.did);
    if (user) return user.removedAt === null ? { ok: true, role: user.role } : { ok: false, reason: 'user-removed', message: 'this user was removed from the broker' };
    const admission = await this.#admitNewcomer(id.did, hello, origin);
    return admission.ok ? { ok: true, role: admission.role } : admission;
  }

  /**
   * What a DID the broker does not know yet becomes, in this order: the host operator, owner; a principal of
   * the host on a broker nobody but the operator has joined, the first owner; anyone else needs a valid
   * invitation, and a network peer on a broker with no user at all is refused outright. The name is checked
   * last, so only the holder of a valid invitation learns whether a name is taken.
   */
  async #admitNewcomer(did: string, hello: UserHello, origin: RpcOrigin): Promise<Newcomer | Refusal> {
    if (did === this.localOperatorDid) return { ok: true, role: 'owner' };
    const firstOwner = origin === 'host' && !(await this.users.hasUsersBesides(this.localOperatorDid));
    let invitation: InvitationRecord | undefined;
    if (!firstOwner) {
      if (!(await this.users.hasUsersBesides(null))) return { ok: false, reason: 'no-owner-yet', message: NO_OWNER_YET };
      if (!hello.invitation) return { ok: false, reason: 'invitation-needed', message: 'you are not a user of this broker: ask an admin for an invitation' };
      invitation = await this.invitations.getByHash(hashToken(hello.invitation));
      if (!invitation || invitation.usedBy || invitation.revokedAt || invitation.expiresAt <= this.now()) {
        return { ok: false, reason: 'invitation-invalid', message: 'the invitation is unknown, used, revoked or expired' };
      }
      if (!(await this.#inviterStillMay(invitation))) return { ok: false, reason: 'invitation-invalid', message: 'whoever created this invitation may no longer grant its role' };
    }
    if (this.#nameHolder(await this.users.names(), hello.name, did)) {
      return { ok: false, reason: 'name-taken', message: `the name ${JSON.stringify(visibleText(hello.name))} is taken on this broker: join with another name` };
    }
    return invitation ? { ok: true, role: invitation.role, invitation } : { ok: true, role: 'owner', firstOwner };
  }

  /** Another user whose name reads the same (see nameKey), removed users included: their name stays theirs in the audit trail. */
  #nameHolder(names: { did: string; name: string }[], name: string, did: string): string | undefined {
    const key = nameKey(name);
    return names.find((u) => u.did !== did && nameKey(u.name) === key)?.did;
  }

  /** An invitation carries its creator's authority: it dies with their removal or demotion. */
  async #inviterStillMay(invitation: { createdBy: string; role: Role }): Promise<boolean> {
    const inviter = await this.users.active(invitation.createdBy);
    return inviter !== undefined && (inviter.did === this.localOperatorDid || mayAssign(inviter.role, invitation.role));
  }

  /** Authority over users of `target`'s role: the host operator over anyone, others by rank. */
  #mayManage(actor: { did: string; role: Role }, target: Role): boolean {
    return actor.did === this.localOperatorDid || mayManage(actor.role, target);
  }

  /**
   * At COMPLETE, with the id proven: enrolls a new user (consuming the invitation) or records the visit. What a
   * concurrent join could change between the checks and the write (the DID, the first owner, the invitation, the
   * name) is checked again by UserStore.enroll in the transaction that writes.
   */
  async enroll(id: VaultysId, hello: UserHello, origin: RpcOrigin): Promise<Admission> {
    const now = this.now();
    const known = await this.users.get(id.did);
    if (known) {
      if (known.removedAt !== null) return { ok: false, reason: 'user-removed', message: 'this user was removed from the broker' };
      // The name is the one given at enrolment: a login cannot take another user's (an admin renames).
      await this.users.touch(id.did, now);
      return { ok: true, role: known.role };
    }
    const admission = await this.#admitNewcomer(id.did, hello, origin);
    if (!admission.ok) return admission;
    const { role } = admission;
    const invitedBy = admission.invitation?.createdBy ?? null;
    const enrolled = await this.users.enroll({ did: id.did, idBase64: id.toBase64(), role, invitedBy }, now, {
      ...(admission.firstOwner ? { firstOwnerBesides: this.localOperatorDid } : {}),
      ...(admission.invitation ? { invitation: { store: this.invitations, token: hello.invitation! } } : {}),
      // The host operator is never locked out of its own broker by a name: it takes its fingerprint beside it.
      nameFor: (names) => (this.#nameHolder(names, hello.name, id.did) ? displayName(hello.name, id.did) : hello.name),
    });
    // Joined meanwhile by another session of the same DID: this one is a visit.
    if (!enrolled.ok && enrolled.why === 'known') return this.enroll(id, hello, origin);
    if (!enrolled.ok && enrolled.why === 'not-first') return { ok: false, reason: 'invitation-needed', message: 'another principal became the first owner meanwhile: ask them for an invitation' };
    if (!enrolled.ok) return { ok: false, reason: 'invitation-invalid', message: 'the invitation is unknown, used, revoked or expired' };
    const { user } = enrolled;
    audit(this.log).info(
      'user.enrolled',
      { did: user.did, role, invitedBy, origin },
      role === 'owner' ? 'a principal of the broker host enrolled as owner' : 'user joined by invitation',
    );
    this.events.emit('userChanged', userView(user));
    return { ok: true, role };
  }

  /** The caller's current role, resolved from the proven DID at every request. */
  async roleOf(did: string): Promise<Role | undefined> {
    return this.users.roleOf(did);
  }

  async idOf(did: string): Promise<string | undefined> {
    return (await this.users.active(did))?.idBase64;
  }

  async page(page: PageRequest): Promise<Page<UserView>> {
    return this.users.page(page, userView);
  }

  async view(did: string): Promise<UserView | undefined> {
    const record = await this.users.get(did);
    return record ? userView(record) : undefined;
  }

  /** The host operator may demote anyone, an owner too (one who should not be is not for ever); others only act below their own rank. */
  async setRole(actor: { did: string; role: Role }, did: string, role: Role): Promise<UserView> {
    const target = await this.users.active(did);
    if (!target) throw notFound(`user ${did}`);
    if (did === actor.did) throw forbidden('nobody changes their own role');
    if (!this.#mayManage(actor, target.role) || !mayAssign(actor.role, role)) {
      throw forbidden(`a ${actor.role} cannot make a ${target.role} into a ${role}`);
    }
    if (!(await this.users.setRole(did, role, actor.did))) throw notFound(`user ${did}`);
    audit(this.log).info('user.role-changed', { actor: actor.did, did, from: target.role, to: role }, 'user role changed');
    return this.#changed(did);
  }

  async remove(actor: { did: string; role: Role }, did: string): Promise<UserView> {
    const target = await this.users.active(did);
    if (!target) throw notFound(`user ${did}`);
    if (did === actor.did) throw forbidden('nobody removes themselves');
    if (!this.#mayManage(actor, target.role)) throw forbidden(`a ${actor.role} cannot remove a ${target.role}`);
    if (!(await this.users.remove(did, this.now(), actor.did))) throw notFound(`user ${did}`);
    audit(this.log).info('user.removed', { actor: actor.did, did }, 'user removed');
    return this.#changed(did);
  }

  /** Returns the token once; only its hash is kept. */
  async invite(actor: { did: string; role: Role }, role: Role, validForMs: number): Promise<{ token: string; invitation: InvitationView }> {
    if (!mayAssign(actor.role, role)) throw forbidden(`a ${actor.role} cannot invite a ${role}`);
    if (validForMs <= 0) throw invalid('validForMs must be positive');
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const record = await this.invitations.create(token, role, actor.did, now + validForMs, now);
    audit(this.log).info('invitation.created', { actor: actor.did, role, invitation: record.tokenHash, expiresAt: record.expiresAt }, 'invitation created');
    return { token, invitation: this.#invitationView(record) };
  }

  async pageInvitations(page: PageRequest): Promise<Page<InvitationView>> {
    return this.invitations.page(page, (r) => this.#invitationView(r));
  }

  /** Names are set once; an admin renames a user they may manage (to the same rules: unique, bounded, visible). */
  async rename(actor: { did: string; role: Role }, did: string, name: string): Promise<UserView> {
    const target = await this.users.active(did);
    if (!target) throw notFound(`user ${did}`);
    if (did === actor.did && actor.did !== this.localOperatorDid) throw forbidden('nobody renames themselves: ask another admin');
    if (did !== actor.did && !this.#mayManage(actor, target.role)) throw forbidden(`a ${actor.role} cannot rename a ${target.role}`);
    // The names are read in the transaction that writes: two renames to one name cannot both succeed.
    const renamed = await this.users.rename(did, name, (names) => this.#nameHolder(names, name, did) !== undefined);
    if (renamed === 'taken') throw conflict(`the name ${JSON.stringify(visibleText(name))} is taken on this broker`);
    if (renamed === 'gone') throw notFound(`user ${did}`);
    audit(this.log).info('user.renamed', { actor: actor.did, did, from: target.name, to: name }, 'user renamed');
    return this.#changed(did);
  }

  /**
   * Only the invitation's creator, or someone with authority over the creator's role, revokes it: an admin
   * cannot cancel the owner's invitations (issue 13, finding 14a).
   */
  async revokeInvitation(actor: { did: string; role: Role }, id: string): Promise<InvitationView> {
    const invitation = await this.invitations.getByHash(id);
    if (!invitation) throw notFound(`invitation ${id}`);
    if (invitation.createdBy !== actor.did) {
      const creatorRole = (await this.users.get(invitation.createdBy))?.role ?? 'owner';
      if (!this.#mayManage(actor, creatorRole)) throw forbidden(`only its creator, or someone who may manage a ${creatorRole}, revokes this invitation`);
    }
    if (!(await this.invitations.revoke(id, this.now()))) throw conflict('the invitation was already used or revoked');
    audit(this.log).info('invitation.revoked', { actor: actor.did, invitation: id }, 'invitation revoked');
    return this.#invitationView((await this.invitations.getByHash(id))!);
  }

  #invitationView(r: InvitationRecord): InvitationView {
    const state = r.usedBy ? 'used' : r.revokedAt ? 'revoked' : r.expiresAt <= this.now() ? 'expired' : 'open';
    return { id: r.tokenHash, role: r.role, createdBy: r.createdBy, createdAt: r.createdAt, expiresAt: r.expiresAt, state, usedBy: r.usedBy };
  }

  async #changed(did: string): Promise<UserView> {
    const view = userView((await this.users.get(did))!);
    this.events.emit('userChanged', view);
    return view;
  }
}
