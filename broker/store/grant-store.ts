import type { SealedEnvelope } from '../../core/identity';
import type { DelegationBody } from '../../core/wire/delegation';
import type { Capability } from '../../core/wire/policy';
import type { Kysely, Selectable } from 'kysely';
import { keysetRows, readPage } from './keyset-page';
import { RowCache } from './row-cache';
import { BUDGETS } from '../../core/budgets';
import { serializedOn } from './sql/locks';
import type { Storage } from './sql/storage';
import type { BrokerTables, GrantsTable } from './sql/tables';
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

type GrantRow = Selectable<GrantsTable>;

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
  /** The revocation list's version, read at every dispatch; the two writers below go through it. */
  readonly #version: RowCache<number>;

  constructor(private readonly storage: Storage) {
    this.#version = new RowCache(storage);
  }

  async add(body: DelegationBody, issuedBy: string, certificate: SealedEnvelope): Promise<GrantRecord> {
    await this.storage.db
      .insertInto('grants')
      .values({
        id: body.id,
        user_did: body.user,
        agent: body.agent,
        capabilities: JSON.stringify(body.capabilities),
        issued_by: issuedBy,
        issued_at: body.issuedAt,
        expires_at: body.expiresAt,
        payload: Buffer.from(certificate.payload),
        signature: Buffer.from(certificate.signature),
      })
      .execute();
    return (await this.get(body.id))!;
  }

  async get(id: string): Promise<GrantRecord | undefined> {
    const row = await this.storage.db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : undefined;
  }

  async activeFor(user: string, now: number): Promise<GrantRecord[]> {
    const rows = await this.storage.db
      .selectFrom('grants')
      .selectAll()
      .where('user_did', '=', user)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .orderBy('expires_at', 'desc')
      .orderBy('rowid', 'desc')
      .execute();
    return rows.map(toRecord);
  }

  async list(): Promise<GrantRecord[]> {
    return (await this.storage.db.selectFrom('grants').selectAll().orderBy('issued_at', 'desc').orderBy('rowid', 'desc').execute()).map(toRecord);
  }

  /** One page of grants (of one user, if given), newest first, each as `view` makes it. */
  async page<T>(user: string | undefined, page: PageRequest, view: (r: GrantRecord) => T | Promise<T>): Promise<Page<T>> {
    const all = this.storage.db.selectFrom('grants').selectAll();
    const rows = keysetRows(user ? all.where('user_did', '=', user) : all, 'issued_at', 'newest-first');
    return readPage(rows, { ...page, order: 'newest-first' }, (row) => view(toRecord(row)));
  }

  /** Revokes a grant and moves the revocation list to a new version, in one transaction. */
  async revoke(id: string, now: number): Promise<boolean> {
    return this.#version.write('version', () =>
      this.storage.transaction(async (trx) => {
        // Only the revocation that changed the row moves the version: on PostgreSQL a second one waits for the row, then finds it revoked.
        const revoked = await trx.updateTable('grants').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
        if (revoked.numUpdatedRows !== 1n) return false;
        await bump(trx);
        return true;
      }),
    );
  }

  /** A user was removed: the list changes even though no grant row did. */
  async bumpVersion(): Promise<void> {
    await this.#version.write('version', () => bump(this.storage.db));
  }

  /** The same grants, certified again (a broker rotation), all or none. */
  /**
   * Replaces each grant's certificate only if it is still the one `replaces` names (one conditional statement each):
   * nodes of a cluster re-sign after a rotation each in turn, and one must never put back a signature another just
   * replaced. Returns how many were replaced.
   */
  async replaceCertificates(certificates: { id: string; certificate: SealedEnvelope; replaces: SealedEnvelope }[]): Promise<number> {
    return this.storage.transaction(async (trx) => {
      let replaced = 0;
      for (const { id, certificate, replaces } of certificates) {
        const result = await trx
          .updateTable('grants')
          .set({ payload: Buffer.from(certificate.payload), signature: Buffer.from(certificate.signature) })
          .where('id', '=', id)
          .where('payload', '=', Buffer.from(replaces.payload))
          .where('signature', '=', Buffer.from(replaces.signature))
          .executeTakeFirst();
        replaced += Number(result.numUpdatedRows);
      }
      return replaced;
    });
  }

  /** Revoked grants and revoked role certificates, whichever node signed them. */
  async revokedIds(now: number): Promise<string[]> {
    // Expired certificates are refused on their own; only unexpired revoked ones need listing.
    const grants = await this.storage.db.selectFrom('grants').select('id').where('revoked_at', 'is not', null).where('expires_at', '>', now).execute();
    const roles = await this.storage.db.selectFrom('role_certificates').select('id').where('revoked_at', 'is not', null).where('expires_at', '>', now).execute();
    return [...grants, ...roles].map((r) => r.id);
  }

  /**
   * Records a role certificate about to be handed out, so that any node can revoke it: refused ('no-role') if its
   * user is no longer an owner or admin, or ('full') while BUDGETS.roleCertificatesLive live already. Expired ones
   * are deleted first (an expired certificate is refused on its own, so no list needs to name it).
   */
  async addRoleCertificate(body: Pick<DelegationBody, 'id' | 'user' | 'expiresAt'>, now: number): Promise<'added' | 'no-role' | 'full'> {
    return this.storage.transaction(async (trx) => {
      // The same lock as revokeRoleCertificates: a demotion's revocation either waits for this row and revokes it, or
      // committed its demotion before this transaction read the role. Two nodes cannot both take the last slot.
      await serializedOn(trx, this.storage.dialect, ROLE_CERTIFICATES_LOCK);
      const user = await trx.selectFrom('users').select('role').where('did', '=', body.user).where('removed_at', 'is', null).executeTakeFirst();
      if (user?.role !== 'owner' && user?.role !== 'admin') return 'no-role';
      await trx.deleteFrom('role_certificates').where('expires_at', '<=', now).execute();
      const { live } = await trx.selectFrom('role_certificates').select((eb) => eb.fn.countAll<number>().as('live')).executeTakeFirstOrThrow();
      if (Number(live) >= BUDGETS.roleCertificatesLive.limit) return 'full';
      await trx.insertInto('role_certificates').values({ id: body.id, user_did: body.user, expires_at: body.expiresAt }).execute();
      return 'added';
    });
  }

  /**
   * A user lost the owner or admin role: every live role certificate they hold, signed by any node, is revoked and,
   * if there was one, the revocation list moves to a new version, in one transaction. How many were revoked.
   */
  async revokeRoleCertificates(user: string, now: number): Promise<number> {
    return this.#version.write('version', () =>
      this.storage.transaction(async (trx) => {
        await serializedOn(trx, this.storage.dialect, ROLE_CERTIFICATES_LOCK);
        const revoked = await trx
          .updateTable('role_certificates')
          .set({ revoked_at: now })
          .where('user_did', '=', user)
          .where('revoked_at', 'is', null)
          .where('expires_at', '>', now)
          .executeTakeFirst();
        const count = Number(revoked.numUpdatedRows);
        if (count > 0) await bump(trx);
        return count;
      }),
    );
  }

  async version(): Promise<number> {
    const read = async () => (await this.storage.db.selectFrom('revocation_list').select('version').where('singleton', '=', 1).executeTakeFirstOrThrow()).version;
    // The singleton row always exists (the schema inserts it), so a read never comes back undefined.
    return (await this.#version.read('version', read))!;
  }
}

const ROLE_CERTIFICATES_LOCK = 'vaultysclaw role certificates';

/** One statement: concurrent bumps each count, on PostgreSQL as on SQLite. */
async function bump(db: Kysely<BrokerTables>): Promise<void> {
  await db
    .updateTable('revocation_list')
    .set((eb) => ({ version: eb('version', '+', 1) }))
    .where('singleton', '=', 1)
    .execute();
}
