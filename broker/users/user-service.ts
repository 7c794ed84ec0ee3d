import type { Page, PageRequest } from '../../core/rpc/pages';
import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import { IdType, type VaultysId } from '../../core/identity';
import { mayAssign, mayManage, type Role } from '../../core/rpc/roles';
import type { UserHello } from '../../core/rpc/user-auth';
import type { InvitationView, UserView } from '../../core/rpc/views';
import type { BrokerEventBus } from '../events';
import { conflict, forbidden, invalid, notFound } from '../rpc/rpc-failure';
import { hashToken, type InvitationRecord, type InvitationStore } from '../store/invitation-store';
import type { UserRecord, UserStore } from '../store/user-store';

export type Admission = { ok: true; role: Role } | { ok: false; message: string };

const userView = (u: UserRecord): UserView => ({
  did: u.did,
  name: u.name,
  role: u.role,
  invitedBy: u.invitedBy,
  removed: u.removedAt !== null,
  createdAt: u.createdAt,
  lastSeen: u.lastSeen,
});

/** Users, their roles and invitations. The first user of a fresh broker becomes its owner; others need an invitation. */
export class UserService {
  constructor(
    private readonly users: UserStore,
    private readonly invitations: InvitationStore,
    private readonly events: BrokerEventBus,
    private readonly log: pino.Logger,
    private readonly now: () => number,
    /**
     * The broker host's local operator (operator.key beside broker.key): always
     * admitted as an owner, since whoever can read that directory holds the
     * broker's own key anyway. It keeps the host's CLI working however the
     * first remote user enrolled.
     */
    private readonly localOperatorDid: string | null = null,
  ) {}

  /** At INIT, before the broker signs: would this id be let in? Nothing is consumed yet. */
  preview(id: VaultysId, hello: UserHello): Admission {
    if (id.type !== IdType.Person) return { ok: false, message: 'users prove a person id' };
    const user = this.users.get(id.did);
    if (user) return user.removedAt === null ? { ok: true, role: user.role } : { ok: false, message: 'this user was removed from the broker' };
    if (this.users.isEmpty() || id.did === this.localOperatorDid) return { ok: true, role: 'owner' };
    if (!hello.invitation) return { ok: false, message: 'you are not a user of this broker: ask an admin for an invitation' };
    const invitation = this.invitations.getByHash(hashToken(hello.invitation));
    if (!invitation || invitation.usedBy || invitation.revokedAt || invitation.expiresAt <= this.now()) {
      return { ok: false, message: 'the invitation is unknown, used, revoked or expired' };
    }
    if (!this.#inviterStillMay(invitation)) return { ok: false, message: 'whoever created this invitation may no longer grant its role' };
    return { ok: true, role: invitation.role };
  }

  /** An invitation carries its creator's authority: it dies with their removal or demotion. */
  #inviterStillMay(invitation: { createdBy: string; role: Role }): boolean {
    const inviter = this.users.active(invitation.createdBy);
    return inviter !== undefined && (inviter.did === this.localOperatorDid || mayAssign(inviter.role, invitation.role));
  }

  /** At COMPLETE, with the id proven: enrolls a new user (consuming the invitation) or records the visit. */
  enroll(id: VaultysId, hello: UserHello): Admission {
    const now = this.now();
    return this.users.transaction((): Admission => {
      const known = this.users.get(id.did);
      if (known) {
        if (known.removedAt !== null) return { ok: false, message: 'this user was removed from the broker' };
        this.users.touch(id.did, hello.name, now);
        return { ok: true, role: known.role };
      }
      let role: Role;
      let invitedBy: string | null = null;
      if (this.users.isEmpty() || id.did === this.localOperatorDid) {
        role = 'owner';
      } else {
        const pending = hello.invitation ? this.invitations.getByHash(hashToken(hello.invitation)) : undefined;
        if (pending && !this.#inviterStillMay(pending)) return { ok: false, message: 'whoever created this invitation may no longer grant its role' };
        const invitation = hello.invitation ? this.invitations.use(hello.invitation, id.did, now) : undefined;
        if (!invitation) return { ok: false, message: 'the invitation is unknown, used, revoked or expired' };
        role = invitation.role;
        invitedBy = invitation.createdBy;
      }
      const user = this.users.add({ did: id.did, idBase64: id.toBase64(), name: hello.name, role, invitedBy }, now);
      this.log.info({ event: 'user.enrolled', did: user.did, role, invitedBy }, role === 'owner' ? 'first user enrolled as owner' : 'user joined by invitation');
      this.events.emit('userChanged', userView(user));
      return { ok: true, role };
    });
  }

  /** The caller's current role, resolved from the proven DID at every request. */
  roleOf(did: string): Role | undefined {
    return this.users.roleOf(did);
  }

  idOf(did: string): string | undefined {
    return this.users.active(did)?.idBase64;
  }

  page(page: PageRequest): Page<UserView> {
    return this.users.page(page, userView);
  }

  view(did: string): UserView | undefined {
    const record = this.users.get(did);
    return record ? userView(record) : undefined;
  }

  setRole(actor: { did: string; role: Role }, did: string, role: Role): UserView {
    const target = this.users.active(did);
    if (!target) throw notFound(`user ${did}`);
    if (did === actor.did) throw forbidden('nobody changes their own role');
    if (!mayManage(actor.role, target.role) || !mayAssign(actor.role, role)) {
      throw forbidden(`a ${actor.role} cannot make a ${target.role} into a ${role}`);
    }
    this.users.setRole(did, role);
    this.log.info({ event: 'user.role-changed', actor: actor.did, did, from: target.role, to: role }, 'user role changed');
    return this.#changed(did);
  }

  remove(actor: { did: string; role: Role }, did: string): UserView {
    const target = this.users.active(did);
    if (!target) throw notFound(`user ${did}`);
    if (did === actor.did) throw forbidden('nobody removes themselves');
    if (!mayManage(actor.role, target.role)) throw forbidden(`a ${actor.role} cannot remove a ${target.role}`);
    this.users.remove(did, this.now());
    this.log.info({ event: 'user.removed', actor: actor.did, did }, 'user removed');
    return this.#changed(did);
  }

  /** Returns the token once; only its hash is kept. */
  invite(actor: { did: string; role: Role }, role: Role, validForMs: number): { token: string; invitation: InvitationView } {
    if (!mayAssign(actor.role, role)) throw forbidden(`a ${actor.role} cannot invite a ${role}`);
    if (validForMs <= 0) throw invalid('validForMs must be positive');
    const token = randomBytes(32).toString('base64url');
    const now = this.now();
    const record = this.invitations.create(token, role, actor.did, now + validForMs, now);
    this.log.info({ event: 'invitation.created', actor: actor.did, role, invitation: record.tokenHash, expiresAt: record.expiresAt }, 'invitation created');
    return { token, invitation: this.#invitationView(record) };
  }

  pageInvitations(page: PageRequest): Page<InvitationView> {
    return this.invitations.page(page, (r) => this.#invitationView(r));
  }

  revokeInvitation(actor: { did: string }, id: string): InvitationView {
    if (!this.invitations.revoke(id, this.now())) {
      if (!this.invitations.getByHash(id)) throw notFound(`invitation ${id}`);
      throw conflict('the invitation was already used or revoked');
    }
    this.log.info({ event: 'invitation.revoked', actor: actor.did, invitation: id }, 'invitation revoked');
    return this.#invitationView(this.invitations.getByHash(id)!);
  }

  #invitationView(r: InvitationRecord): InvitationView {
    const state = r.usedBy ? 'used' : r.revokedAt ? 'revoked' : r.expiresAt <= this.now() ? 'expired' : 'open';
    return { id: r.tokenHash, role: r.role, createdBy: r.createdBy, createdAt: r.createdAt, expiresAt: r.expiresAt, state, usedBy: r.usedBy };
  }

  #changed(did: string): UserView {
    const view = userView(this.users.get(did)!);
    this.events.emit('userChanged', view);
    return view;
  }
}
