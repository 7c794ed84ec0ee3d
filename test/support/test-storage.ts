// The storage switch of the broker processes tests start: VAULTYSCLAW_TEST_STORAGE=postgres gives each broker
// (each data directory) a database of its own on the PostgreSQL server scripts/test.mjs started for the run,
// whose superuser URL it passes in VAULTYSCLAW_TEST_POSTGRES_URL. Unset, brokers keep today's broker.db.
import { createHash } from 'node:crypto';
import pg from 'pg';

/** SQLSTATE duplicate_database: the data directory's database exists (a broker restarted on it). */
const DUPLICATE_DATABASE = '42P04';

export function testStorage(): 'sqlite' | 'postgres' {
  const chosen = process.env.VAULTYSCLAW_TEST_STORAGE ?? 'sqlite';
  if (chosen !== 'sqlite' && chosen !== 'postgres') throw new Error(`VAULTYSCLAW_TEST_STORAGE is sqlite or postgres, not ${chosen}`);
  return chosen;
}

/**
 * `broker start`'s arguments for the database of `dataDir`: none on SQLite; on PostgreSQL `--database` with the
 * URL of a database named after the data directory, created on first use, so a broker restarted on its data
 * directory (kill-chaos, rotation) finds its state again and two brokers never share one.
 */
export async function databaseArgs(dataDir: string): Promise<string[]> {
  if (testStorage() === 'sqlite') return [];
  const admin = process.env.VAULTYSCLAW_TEST_POSTGRES_URL;
  if (!admin) throw new Error('VAULTYSCLAW_TEST_STORAGE=postgres needs the server scripts/test.mjs starts: run the tests through it (node scripts/test.mjs <files>)');
  const name = `broker_${createHash('sha256').update(dataDir).digest('hex').slice(0, 24)}`;
  const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } catch (err) {
    if ((err as { code?: unknown }).code !== DUPLICATE_DATABASE) throw err;
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return ['--database', url.toString()];
}
