import type { Role } from '../../core/rpc/roles';
import type { BrokerDatabase } from './database';
import { readPage, type Keyed } from './keyset-page';
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

interface UserRow {
  did: string;
  id_b64: string;
  name: string;
  role: Role;
  role_set_by: string | null;
  invited_by: string | null;
  removed_at: number | null;
  created_at: number;
  last_seen: number;
}

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

/** Users of the broker: a proven person DID and its role. Removal is kept as a record, never deleted. */
export class UserStore {
  readonly #get;
  readonly #list;
  readonly #others;
  readonly #byName;
  readonly #page;
  readonly #count;
  readonly #insert;
  readonly #seen;
  readonly #rename;
  readonly #setRole;
  readonly #remove;
  readonly #removed;
  /** Active users' roles, read at every request for RBAC; every write below keeps it true. */
  readonly #roles = new Map<string, Role | undefined>();

  constructor(private readonly db: BrokerDatabase) {
    this.#get = db.prepare<[string], UserRow>('SELECT * FROM users WHERE did = ?');
    this.#list = db.prepare<[], UserRow>('SELECT * FROM users ORDER BY created_at');
    this.#others = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM users WHERE did != ?');
    this.#byName = db.prepare<[], { did: string; name: string }>('SELECT did, name FROM users');
    this.#page = db.prepare<[Record<string, unknown>], UserRow & Keyed>(
      `SELECT *, created_at AS page_key, rowid AS page_rowid FROM users
       WHERE (created_at, rowid) > (@key, @rowid) ORDER BY created_at, rowid LIMIT @limit`,
    );
    this.#count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM users');
    this.#insert = db.prepare(
      `INSERT INTO users (did, id_b64, name, role, invited_by, created_at, last_seen) VALUES (@did, @id, @name, @role, @invitedBy, @now, @now)`,
    );
    // A name is set once, at enrolment: a login only records the visit (issue 13, finding 11).
    this.#seen = db.prepare('UPDATE users SET last_seen = @now WHERE did = @did');
    this.#rename = db.prepare('UPDATE users SET name = @name WHERE did = @did AND removed_at IS NULL');
    this.#setRole = db.prepare('UPDATE users SET role = @role, role_set_by = @by WHERE did = @did AND removed_at IS NULL');
    this.#remove = db.prepare('UPDATE users SET removed_at = @now, role_set_by = @by WHERE did = @did AND removed_at IS NULL');
    this.#removed = db.prepare<[], { did: string }>('SELECT did FROM users WHERE removed_at IS NOT NULL');
  }

  get(did: string): UserRecord | undefined {
    const row = this.#get.get(did);
    return row ? toRecord(row) : undefined;
  }

  /** The user as RBAC sees them: removed users have no role. */
  active(did: string): UserRecord | undefined {
    const user = this.get(did);
    return user && user.removedAt === null ? user : undefined;
  }

  /** The user's role, undefined for an unknown or removed user. */
  roleOf(did: string): Role | undefined {
    if (!this.#roles.has(did)) this.#roles.set(did, this.active(did)?.role);
    return this.#roles.get(did);
  }

  list(): UserRecord[] {
    return this.#list.all().map(toRecord);
  }

  /** Whether anyone but `did` (the host operator; null: nobody) was ever a user of the broker. */
  hasUsersBesides(did: string | null): boolean {
    return (this.#others.get(did ?? '')?.n ?? 0) > 0;
  }

  /** Every user's DID and name, removed ones included (a removed user's name stays theirs, for the audit trail). */
  names(): { did: string; name: string }[] {
    return this.#byName.all();
  }

  /** One page of users, oldest first, each as `view` makes it. */
  page<T>(page: PageRequest, view: (r: UserRecord) => T): Page<T> {
    return readPage(this.#page, {}, { ...page, order: 'oldest-first' }, (row) => view(toRecord(row)));
  }

  isEmpty(): boolean {
    return (this.#count.get()?.n ?? 0) === 0;
  }

  add(user: { did: string; idBase64: string; name: string; role: Role; invitedBy: string | null }, now: number): UserRecord {
    this.#roles.delete(user.did);
    this.#insert.run({ did: user.did, id: user.idBase64, name: user.name, role: user.role, invitedBy: user.invitedBy, now });
    return this.get(user.did)!;
  }

  /** Runs `fn` in one transaction, so "first user becomes owner" cannot be won twice. */
  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } catch (err) {
      // A write rolled back: a role read inside the transaction may not hold.
      this.#roles.clear();
      throw err;
    }
  }

  touch(did: string, now: number): void {
    this.#seen.run({ did, now });
  }

  rename(did: string, name: string): boolean {
    return this.#rename.run({ did, name }).changes === 1;
  }

  setRole(did: string, role: Role, by: string): boolean {
    this.#roles.delete(did);
    return this.#setRole.run({ did, role, by }).changes === 1;
  }

  removedDids(): string[] {
    return this.#removed.all().map((r) => r.did);
  }

  remove(did: string, now: number, by: string): boolean {
    this.#roles.delete(did);
    return this.#remove.run({ did, now, by }).changes === 1;
  }
}
