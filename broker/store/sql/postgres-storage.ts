import type pg from 'pg';
import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient } from 'kysely';
import { DATABASE_UNAVAILABLE } from '../../../core/storage/storage-failure';
import type { StorageTimingListener } from '../storage-timing';
import { migratePostgres } from './postgres-migrate';
import { postgresPool, type PostgresPoolOptions } from './postgres-pool';
import { POSTGRES_MIGRATIONS } from './postgres-schema';
import { postgresPlace, withoutPassword } from './postgres-url';
import type { Storage } from './storage';
import type { BrokerTables } from './tables';

export type PostgresStorageOptions = PostgresPoolOptions;

export interface PostgresStorage extends Storage {
  readonly dialect: 'postgres';
}

/** How long /readyz's probe waits for the server before it says the database does not answer. */
const PING_TIMEOUT_MS = 2_000;

/** SQLSTATEs of a server that is gone or not taking connections: class 08, and admin/crash shutdown, starting up, full. */
const UNAVAILABLE_STATES = /^(08...|57P0[123]|53300)$/;
/** What node and pg say, without a SQLSTATE, when the connection cannot be made or broke under a query. */
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
const UNAVAILABLE_MESSAGES = /Connection terminated|not queryable|timeout exceeded when trying to connect/i;

function unavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (UNAVAILABLE_STATES.test(code) || UNAVAILABLE_ERRNOS.has(code))) return true;
  return err instanceof Error && UNAVAILABLE_MESSAGES.test(err.message);
}

/**
 * One error for "the server is not there", whatever pg said: the RPC layer answers it as storage-failed (with
 * this message) and the audit line says the same; its message names the server and never the password, and it
 * carries no `cause` (a client error may keep the connection string).
 */
function unavailableError(err: unknown, url: string): Error {
  const said = withoutPassword(err instanceof Error ? err.message || String((err as { code?: unknown }).code ?? 'error') : String(err), url);
  return Object.assign(new Error(`the database is unavailable (${postgresPlace(url)}: ${said})`), { code: DATABASE_UNAVAILABLE });
}

const ignore = (): void => undefined;

/**
 * The pool as Kysely sees it, with a server that is gone said as one error (unavailableError). The pool itself
 * reconnects: a query after the server is back opens a fresh connection, so the broker recovers by itself.
 */
function reportingPool(pool: pg.Pool, url: string): PostgresPool {
  const mapped = (err: unknown): unknown => (unavailable(err) ? unavailableError(err, url) : err);
  return {
    async connect(): Promise<PostgresPoolClient> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw unavailableError(err, url);
      }
      // pg emits a checked-out client's broken connection (the server shut down mid-transaction) as an 'error'
      // event, which unheard ends the process; the query waiting on it is rejected with it anyway.
      client.on('error', ignore);
      return {
        query: ((text: string, values: readonly unknown[]) => client.query(text, values as unknown[]).catch((err: unknown) => Promise.reject(mapped(err)))) as PostgresPoolClient['query'],
        release: (destroy) => {
          client.off('error', ignore);
          client.release(destroy);
        },
      };
    },
    end: () => pool.end(),
  };
}

/** The write statements Kysely built (raw SQL is the migrations' and the SET LOCAL of a relaxed commit). */
const WRITES = new Set(['InsertQueryNode', 'UpdateQueryNode', 'DeleteQueryNode', 'MergeQueryNode']);

/**
 * Storage on PostgreSQL at `url` (postgres://user:password@host:port/db), migrated to POSTGRES_MIGRATIONS before it
 * is returned. A failure to connect or migrate closes the pool and throws an error that names the server and the
 * cause, not the password, and carries no `cause` (a client error may keep the connection string).
 */
export async function openPostgresStorage(url: string, options: PostgresStorageOptions = {}): Promise<PostgresStorage> {
  const pool = postgresPool(url, options);
  try {
    await migratePostgres(pool, { migrations: POSTGRES_MIGRATIONS, what: 'database', program: 'broker' });
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new Error(`${postgresPlace(url)}: ${withoutPassword(err instanceof Error ? err.message : String(err), url)}`);
  }
  const timing: { listener: StorageTimingListener | null } = { listener: null };
  const db = new Kysely<BrokerTables>({
    dialect: new PostgresDialect({ pool: reportingPool(pool, url) }),
    log: (event) => {
      if (event.level === 'query' && WRITES.has(event.query.query.kind)) timing.listener?.('run', event.queryDurationMillis / 1000);
    },
  });
  const transaction: Storage['transaction'] = (fn, options) => {
    if (!options?.relaxed) return db.transaction().execute(fn);
    return db.transaction().execute(async (trx) => {
      // The commit returns before its WAL record is flushed: a crash of the server may lose the last such commits
      // (never half of one, never a durable one after them), as SQLite's synchronous=NORMAL does on a power loss.
      await sql`SET LOCAL synchronous_commit = off`.execute(trx);
      return fn(trx);
    });
  };
  let probe: Promise<string | null> | null = null;
  return {
    dialect: 'postgres',
    db,
    async transaction(fn, options) {
      const listener = timing.listener;
      if (!listener) return transaction(fn, options);
      const start = performance.now();
      try {
        return await transaction(fn, options);
      } finally {
        listener('transaction', (performance.now() - start) / 1000);
      }
    },
    // Probes that arrive while one is out share it: /readyz asked in a loop costs the server one query at a time.
    ping() {
      probe ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve(`no answer within ${PING_TIMEOUT_MS} ms`), PING_TIMEOUT_MS);
        });
        try {
          const answered = sql`SELECT 1`.execute(db).then(
            () => null,
            (err: unknown) => (unavailable(err) || (err as { code?: unknown })?.code === DATABASE_UNAVAILABLE ? 'unavailable' : 'a query failed'),
          );
          return await Promise.race([answered, late]);
        } finally {
          clearTimeout(timer);
          probe = null;
        }
      })();
      return probe;
    },
    onTiming(listener) {
      timing.listener = listener;
      return () => {
        if (timing.listener === listener) timing.listener = null;
      };
    },
    close: () => db.destroy(),
  };
}
