import type { Pool } from 'pg';
import { refuseNewerSchema, type SchemaOwner } from '../../../core/storage/schema-version';

export interface PostgresSchema extends SchemaOwner {
  /** Applied in order; `schema_migrations` holds one row per entry applied. */
  migrations: readonly string[];
}

/**
 * Brings the database to `schema`, in one transaction under a transaction-scoped advisory lock: nodes that start
 * at once queue on the lock, and each one after the first finds the migrations applied (a second CREATE TABLE
 * would fail that node's start). A database a newer program migrated is refused before anything is written.
 */
export async function migratePostgres(pool: Pool, { migrations, ...owner }: PostgresSchema): Promise<void> {
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('vaultysclaw broker schema'))");
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
    const current = rows[0]?.version ?? 0;
    refuseNewerSchema(current, migrations.length, owner);
    for (let i = current; i < migrations.length; i++) {
      await client.query(migrations[i]!);
      await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [i + 1, Date.now()]);
    }
    await client.query('COMMIT');
  } catch (err) {
    failure = err as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    // A connection that failed mid-migration is closed, not handed to the next query in an unknown state.
    client.release(failure);
  }
}
