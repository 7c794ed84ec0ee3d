import type { Role } from '../../core/rpc/roles';
import type { Kysely, Selectable } from 'kysely';
import type { InvitationStore } from './invitation-store';
import { keysetRows, readPage } from './keyset-page';
import { RowCache } from './row-cache';
import { nulFree } from './sql/stored-text';
import { serializedOn } from './sql/locks';
import type { Storage } from './sql/storage';
import type { BrokerTables, UsersTable } from './sql/tables';
import type { Page, PageRequest } from '../../core/rpc/pages';

export interface UserRecord {
  did: string;
  idBase64: string;
  name: string;
  role: Role;
  /** Who last changed the role or removed the user (null: the role they joined with). */
  roleSetBy: string | null;
  invitedBy: string | null;
  removedAt: number | null;
  createdAt: number;
  lastSeen: number;
}

type UserRow = Selectable<UsersTable>;

const toRecord = (r: UserRow): UserRecord => ({
  did: r.did,
  idBase64: r.id_b64,
  name: r.name,
  role: r.role,
  roleSetBy: r.role_set_by,
  invitedBy: r.invited_by,
  removedAt: r.removed_at,
  createdAt: r.created_at,
  lastSeen: r.last_seen,
});

/**
 * Every check-then-write on users (enrol, rename) holds this lock on PostgreSQL: what they check is a property of
 * the whole table (nobody joined yet, no name reads the same under nameKey) that no row lock or index can hold.
 * Joins and renames are rare; serialising them costs nothing that matters.
 */
const USER_WRITES = 'vaultysclaw users';

/** Users of the broker: a proven person DID and its role. Removal is kept as a record, never deleted. */
export class UserStore {
  /** Active users' roles, read at every request for RBAC; every write below goes through it and keeps it true. */
  readonly #roles: RowCache<Role>;

  constructor(private readonly storage: Storage) {
    this.#roles = new RowCache(storage);
  }

  async get(did: string): Promise<UserRecord | undefined> {
    return readUser(this.storage.db, did);
  }

  /** The user as RBAC sees them: removed users have no role. */
  async active(did: string): Promise<UserRecord | undefined> {
    const user = await this.get(did);
    return user && user.removedAt === null ? user : undefined;
  }

  /** The user's role, undefined for an unknown or removed user. */
  async roleOf(did: string): Promise<Role | undefined> {
    return this.#roles.read(did, async () => (await this.active(did))?.role);
  }

  async list(): Promise<UserRecord[]> {
    return (await this.storage.db.selectFrom('users').selectAll().orderBy('created_at').orderBy('rowid').execute()).map(toRecord);
  }

  /** Whether anyone but `did` (the host operator; null: nobody) was ever a user of the broker. */
  async hasUsersBesides(did: string | null): Promise<boolean> {
    return hasUsersBesides(this.storage.db, did);
  }

  /** Every user's DID and name, removed ones included (a removed user's name stays theirs, for the audit trail). */
  async names(): Promise<{ did: string; name: string }[]> {
    return names(this.storage.db);
  }

  /** One page of users, oldest first, each as `view` makes it. */
  async page<T>(page: PageRequest, view: (r: UserRecord) => T | Promise<T>): Promise<Page<T>> {
    const rows = keysetRows(this.storage.db.selectFrom('users').selectAll(), 'created_at', 'oldest-first');
    return readPage(rows, { ...page, order: 'oldest-first' }, (row) => view(toRecord(row)));
  }

  async isEmpty(): Promise<boolean> {
    return !(await this.storage.db.selectFrom('users').select('did').limit(1).executeTakeFirst());
  }

  async add(user: { did: string; idBase64: string; name: string; role: Role; invitedBy: string | null }, now: number): Promise<UserRecord> {
    await this.#roles.write(user.did, () => insertUser(this.storage.db, user, now));
    return (await this.get(user.did))!;
  }

  /**
   * Adds a user the caller admitted, re-checking in one transaction what concurrent joins could change since:
   * the DID is still unknown (`known`), for a first owner nobody but `firstOwnerBesides` has joined meanwhile
   * (`not-first`), the invitation is consumed now (`invitation-invalid`: single use holds), and the name is
   * chosen by `nameFor` from every name read inside the transaction (no two users end up with one name).
   */
  async enroll(
    user: { did: string; idBase64: string; role: Role; invitedBy: string | null },
    now: number,
    terms: { firstOwnerBesides?: string | null; invitation?: { store: InvitationStore; token: string }; nameFor: (names: { did: string; name: string }[]) => string },
  ): Promise<{ ok: true; user: UserRecord } | { ok: false; why: 'known' | 'not-first' | 'invitation-invalid' }> {
    return this.#roles.write(user.did, () =>
      this.storage.transaction(async (trx) => {
        // Taken first: every read below sees what the enrolments before this one committed (READ COMMITTED reads anew at each statement).
        await serializedOn(trx, this.storage.dialect, USER_WRITES);
        if (await readUser(trx, user.did)) return { ok: false as const, why: 'known' as const };
        if (terms.firstOwnerBesides !== undefined && (await hasUsersBesides(trx, terms.firstOwnerBesides))) return { ok: false as const, why: 'not-first' as const };
        if (terms.invitation && !(await terms.invitation.store.useIn(trx, terms.invitation.token, user.did, now))) return { ok: false as const, why: 'invitation-invalid' as const };
        await insertUser(trx, { ...user, name: terms.nameFor(await names(trx)) }, now);
        return { ok: true as const, user: (await readUser(trx, user.did))! };
      }),
    );
  }

  async touch(did: string, now: number): Promise<void> {
    await this.storage.db.updateTable('users').set({ last_seen: now }).where('did', '=', did).execute();
  }

  /**
   * Renames an active user unless `taken` says another user's name reads the same, checked against the names read in
   * the same transaction as the write: two concurrent renames to one name cannot both succeed.
   */
  async rename(did: string, name: string, taken: (names: { did: string; name: string }[]) => boolean = () => false): Promise<'renamed' | 'taken' | 'gone'> {
    nulFree('a user name', name);
    return this.storage.transaction(async (trx) => {
      await serializedOn(trx, this.storage.dialect, USER_WRITES);
      if (taken(await names(trx))) return 'taken' as const;
      const result = await trx.updateTable('users').set({ name }).where('did', '=', did).where('removed_at', 'is', null).executeTakeFirst();
      return result.numUpdatedRows === 1n ? ('renamed' as const) : ('gone' as const);
    });
  }

  async setRole(did: string, role: Role, by: string): Promise<boolean> {
    const result = await this.#roles.write(did, () =>
      this.storage.db.updateTable('users').set({ role, role_set_by: by }).where('did', '=', did).where('removed_at', 'is', null).executeTakeFirst(),
    );
    return result.numUpdatedRows === 1n;
  }

  async removedDids(): Promise<string[]> {
    return (await this.storage.db.selectFrom('users').select('did').where('removed_at', 'is not', null).execute()).map((r) => r.did);
  }

  async remove(did: string, now: number, by: string): Promise<boolean> {
    const result = await this.#roles.write(did, () =>
      this.storage.db.updateTable('users').set({ removed_at: now, role_set_by: by }).where('did', '=', did).where('removed_at', 'is', null).executeTakeFirst(),
    );
    return result.numUpdatedRows === 1n;
  }
}

async function readUser(db: Kysely<BrokerTables>, did: string): Promise<UserRecord | undefined> {
  const row = await db.selectFrom('users').selectAll().where('did', '=', did).executeTakeFirst();
  return row ? toRecord(row) : undefined;
}

async function hasUsersBesides(db: Kysely<BrokerTables>, did: string | null): Promise<boolean> {
  return (await db.selectFrom('users').select('did').where('did', '!=', did ?? '').limit(1).executeTakeFirst()) !== undefined;
}

async function names(db: Kysely<BrokerTables>): Promise<{ did: string; name: string }[]> {
  return db.selectFrom('users').select(['did', 'name']).orderBy('rowid').execute();
}

async function insertUser(db: Kysely<BrokerTables>, user: { did: string; idBase64: string; name: string; role: Role; invitedBy: string | null }, now: number): Promise<void> {
  nulFree('a user name', user.name);
  await db
    .insertInto('users')
    .values({ did: user.did, id_b64: user.idBase64, name: user.name, role: user.role, invited_by: user.invitedBy, created_at: now, last_seen: now })
    .execute();
}
