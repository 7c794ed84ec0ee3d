import { createHash } from 'node:crypto';
import type { Role } from '../../core/rpc/roles';
import type { BrokerDatabase } from './database';
import { readPage, type Keyed } from './keyset-page';
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

interface InvitationRow {
  token_hash: string;
  role: Role;
  created_by: string;
  created_at: number;
  expires_at: number;
  used_by: string | null;
  used_at: number | null;
  revoked_at: number | null;
}

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

const toRecord = (r: InvitationRow): InvitationRecord => ({
  tokenHash: r.token_hash,
  role: r.role,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedBy: r.used_by,
  usedAt: r.used_at,
  revokedAt: r.revoked_at,
});

/** Single-use, expiring invitations bound to a role. */
export class InvitationStore {
  readonly #insert;
  readonly #get;
  readonly #use;
  readonly #revoke;
  readonly #page;

  constructor(db: BrokerDatabase) {
    this.#insert = db.prepare(
      'INSERT INTO invitations (token_hash, role, created_by, created_at, expires_at) VALUES (@hash, @role, @createdBy, @now, @expiresAt)',
    );
    this.#get = db.prepare<[string], InvitationRow>('SELECT * FROM invitations WHERE token_hash = ?');
    // Consumed only if still unused, unrevoked and unexpired: the WHERE clause is the single-use guarantee.
    this.#use = db.prepare(
      `UPDATE invitations SET used_by = @did, used_at = @now
       WHERE token_hash = @hash AND used_by IS NULL AND revoked_at IS NULL AND expires_at > @now`,
    );
    this.#revoke = db.prepare('UPDATE invitations SET revoked_at = @now WHERE token_hash = @hash AND used_by IS NULL AND revoked_at IS NULL');
    this.#page = db.prepare<[Record<string, unknown>], InvitationRow & Keyed>(
      `SELECT *, created_at AS page_key, rowid AS page_rowid FROM invitations
       WHERE (created_at, rowid) < (@key, @rowid) ORDER BY created_at DESC, rowid DESC LIMIT @limit`,
    );
  }

  create(token: string, role: Role, createdBy: string, expiresAt: number, now: number): InvitationRecord {
    const hash = hashToken(token);
    this.#insert.run({ hash, role, createdBy, now, expiresAt });
    return this.getByHash(hash)!;
  }

  getByHash(hash: string): InvitationRecord | undefined {
    const row = this.#get.get(hash);
    return row ? toRecord(row) : undefined;
  }

  /** Consumes the invitation for a user; returns it, or undefined if it is unknown, used, revoked or expired. */
  use(token: string, did: string, now: number): InvitationRecord | undefined {
    const hash = hashToken(token);
    return this.#use.run({ hash, did, now }).changes === 1 ? this.getByHash(hash) : undefined;
  }

  revoke(hash: string, now: number): boolean {
    return this.#revoke.run({ hash, now }).changes === 1;
  }

  /** One page of invitations, newest first, each as `view` makes it. */
  page<T>(page: PageRequest, view: (r: InvitationRecord) => T): Page<T> {
    return readPage(this.#page, {}, { ...page, order: 'newest-first' }, (row) => view(toRecord(row)));
  }
}
