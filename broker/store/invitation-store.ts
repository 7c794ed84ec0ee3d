import { createHash } from 'node:crypto';
import type { Role } from '../../core/rpc/roles';
import type { Kysely, Selectable } from 'kysely';
import { keysetRows, readPage } from './keyset-page';
import type { Storage } from './sql/storage';
import type { BrokerTables, InvitationsTable } from './sql/tables';
import type { Page, PageRequest } from '../../core/rpc/pages';

export interface InvitationRecord {
  /** SHA-256 of the token: the token itself is a secret and is never stored or logged. */
  tokenHash: string;
  role: Role;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usedBy: string | null;
  usedAt: number | null;
  revokedAt: number | null;
}

type InvitationRow = Selectable<InvitationsTable>;

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

const toRecord = (r: InvitationRow): InvitationRecord => ({
  tokenHash: r.token_hash,
  role: r.role as Role,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedBy: r.used_by,
  usedAt: r.used_at,
  revokedAt: r.revoked_at,
});

/** Single-use, expiring invitations bound to a role. */
export class InvitationStore {
  constructor(private readonly storage: Storage) {}

  async create(token: string, role: Role, createdBy: string, expiresAt: number, now: number): Promise<InvitationRecord> {
    const hash = hashToken(token);
    await this.storage.db.insertInto('invitations').values({ token_hash: hash, role, created_by: createdBy, created_at: now, expires_at: expiresAt }).execute();
    return (await this.getByHash(hash))!;
  }

  async getByHash(hash: string): Promise<InvitationRecord | undefined> {
    const row = await this.storage.db.selectFrom('invitations').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  /** Consumes the invitation for a user; returns it, or undefined if it is unknown, used, revoked or expired. */
  async use(token: string, did: string, now: number): Promise<InvitationRecord | undefined> {
    return this.useIn(this.storage.db, token, did, now);
  }

  /** use() as one statement of a transaction another store runs (UserStore.enroll), through its `trx`. */
  async useIn(db: Kysely<BrokerTables>, token: string, did: string, now: number): Promise<InvitationRecord | undefined> {
    // Consumed only if still unused, unrevoked and unexpired: the WHERE clause is the single-use guarantee (on PostgreSQL
    // a second UPDATE waits for the first's row lock, then finds the row used).
    const row = await db
      .updateTable('invitations')
      .set({ used_by: did, used_at: now })
      .where('token_hash', '=', hashToken(token))
      .where('used_by', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  async revoke(hash: string, now: number): Promise<boolean> {
    const result = await this.storage.db
      .updateTable('invitations')
      .set({ revoked_at: now })
      .where('token_hash', '=', hash)
      .where('used_by', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  /** One page of invitations, newest first, each as `view` makes it. */
  async page<T>(page: PageRequest, view: (r: InvitationRecord) => T | Promise<T>): Promise<Page<T>> {
    const rows = keysetRows(this.storage.db.selectFrom('invitations').selectAll(), 'created_at', 'newest-first');
    return readPage(rows, { ...page, order: 'newest-first' }, (row) => view(toRecord(row)));
  }
}
