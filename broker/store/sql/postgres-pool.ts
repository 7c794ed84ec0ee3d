import pg from 'pg';

const INT8_OID = 20;

/** int8 (BIGINT, count(*)) as a JS number, as better-sqlite3 gives SQLite's integers; refused past 2^53 rather than rounded. */
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`a BIGINT of ${text.length} digits is past Number.MAX_SAFE_INTEGER`);
  return value;
}

// The pool's own parsers, not pg.types.setTypeParser: that one is global to the process and would change what
// every other pg user in it reads. bytea stays pg's Buffer, as SQLite's BLOB.
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PostgresPoolOptions {
  /** Connections at most (default 4: each is a server process; a node's queries are short). */
  poolSize?: number;
  /** How long a connection may take to open before the query that needed it fails (default 10 s). */
  connectTimeoutMs?: number;
}

/** A pool on `url`; its idle connections that fail are dropped (the next query opens a fresh one and reports its own error). */
export function postgresPool(url: string, options: PostgresPoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    types,
  });
  // An idle client's error (the server restarted) is emitted on the pool; unheard, it would end the process.
  pool.on('error', () => undefined);
  return pool;
}
