import type { SealedEnvelope } from '../../core/identity';
import type { DelegationBody } from '../../core/wire/delegation';
import type { Capability } from '../../core/wire/policy';
import type { BrokerDatabase } from './database';
import { readPage, type Keyed } from './keyset-page';
import type { Page, PageRequest } from '../../core/rpc/pages';

export interface GrantRecord {
  id: string;
  user: string;
  agent: string;
  capabilities: Capability[];
  issuedBy: string;
  issuedAt: number;
  expiresAt: number;
  revokedAt: number | null;
  certificate: SealedEnvelope;
}

interface GrantRow {
  id: string;
  user_did: string;
  agent: string;
  capabilities: string;
  issued_by: string;
  issued_at: number;
  expires_at: number;
  revoked_at: number | null;
  payload: Buffer;
  signature: Buffer;
}

const toRecord = (r: GrantRow): GrantRecord => ({
  id: r.id,
  user: r.user_did,
  agent: r.agent,
  capabilities: JSON.parse(r.capabilities) as Capability[],
  issuedBy: r.issued_by,
  issuedAt: r.issued_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  certificate: { payload: new Uint8Array(r.payload), signature: new Uint8Array(r.signature) },
});

/** Grants and their delegation certificates, and the version of the revocation list they feed. */
export class GrantStore {
  readonly #insert;
  readonly #get;
  readonly #byUser;
  readonly #list;
  readonly #pageAll;
  readonly #pageUser;
  readonly #revoke;
  readonly #revoked;
  readonly #readVersion;
  readonly #bump;
  readonly #recertify;
  /** The revocation list's version, read at every dispatch; the two writers below drop it. */
  #version?: number;

  constructor(private readonly db: BrokerDatabase) {
    this.#insert = db.prepare(
      `INSERT INTO grants (id, user_did, agent, capabilities, issued_by, issued_at, expires_at, payload, signature)
       VALUES (@id, @user, @agent, @capabilities, @issuedBy, @issuedAt, @expiresAt, @payload, @signature)`,
    );
    this.#get = db.prepare<[string], GrantRow>('SELECT * FROM grants WHERE id = ?');
    this.#byUser = db.prepare<[string, number], GrantRow>(
      'SELECT * FROM grants WHERE user_did = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY expires_at DESC',
    );
    this.#list = db.prepare<[], GrantRow>('SELECT * FROM grants ORDER BY issued_at DESC');
    const page = (where: string) =>
      db.prepare<[Record<string, unknown>], GrantRow & Keyed>(
        `SELECT *, issued_at AS page_key, rowid AS page_rowid FROM grants
         WHERE ${where} (issued_at, rowid) < (@key, @rowid) ORDER BY issued_at DESC, rowid DESC LIMIT @limit`,
      );
    this.#pageAll = page('');
    this.#pageUser = page('user_did = @user AND');
    this.#revoke = db.prepare('UPDATE grants SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL');
    // Expired certificates are refused on their own; only unexpired revoked ones need listing.
    this.#revoked = db.prepare<[number], { id: string }>('SELECT id FROM grants WHERE revoked_at IS NOT NULL AND expires_at > ?');
    this.#readVersion = db.prepare<[], { version: number }>('SELECT version FROM revocation_list WHERE singleton = 1');
    this.#bump = db.prepare('UPDATE revocation_list SET version = version + 1 WHERE singleton = 1');
    this.#recertify = db.prepare('UPDATE grants SET payload = @payload, signature = @signature WHERE id = @id');
  }

  add(body: DelegationBody, issuedBy: string, certificate: SealedEnvelope): GrantRecord {
    this.#insert.run({
      id: body.id,
      user: body.user,
      agent: body.agent,
      capabilities: JSON.stringify(body.capabilities),
      issuedBy,
      issuedAt: body.issuedAt,
      expiresAt: body.expiresAt,
      payload: Buffer.from(certificate.payload),
      signature: Buffer.from(certificate.signature),
    });
    return this.get(body.id)!;
  }

  get(id: string): GrantRecord | undefined {
    const row = this.#get.get(id);
    return row ? toRecord(row) : undefined;
  }

  activeFor(user: string, now: number): GrantRecord[] {
    return this.#byUser.all(user, now).map(toRecord);
  }

  list(): GrantRecord[] {
    return this.#list.all().map(toRecord);
  }

  /** One page of grants (of one user, if given), newest first, each as `view` makes it. */
  page<T>(user: string | undefined, page: PageRequest, view: (r: GrantRecord) => T): Page<T> {
    const order = { ...page, order: 'newest-first' } as const;
    return user ? readPage(this.#pageUser, { user }, order, (row) => view(toRecord(row))) : readPage(this.#pageAll, {}, order, (row) => view(toRecord(row)));
  }

  /** Revokes a grant and moves the revocation list to a new version, in one transaction. */
  revoke(id: string, now: number): boolean {
    this.#version = undefined;
    return this.db.transaction(() => {
      if (this.#revoke.run({ id, now }).changes !== 1) return false;
      this.#bump.run();
      return true;
    })();
  }

  /** A user was removed: the list changes even though no grant row did. */
  bumpVersion(): void {
    this.#version = undefined;
    this.#bump.run();
  }

  /** The same grants, certified again (a broker rotation), all or none. */
  replaceCertificates(certificates: { id: string; certificate: SealedEnvelope }[]): void {
    this.db.transaction(() => {
      for (const { id, certificate } of certificates) {
        this.#recertify.run({ id, payload: Buffer.from(certificate.payload), signature: Buffer.from(certificate.signature) });
      }
    })();
  }

  revokedIds(now: number): string[] {
    return this.#revoked.all(now).map((r) => r.id);
  }

  version(): number {
    return (this.#version ??= this.#readVersion.get()!.version);
  }
}
