import { openSqliteDatabase, type SqliteDatabase } from '../../core/storage/sqlite-database';

export type AgentDatabase = SqliteDatabase;

/** The agent's one database file, inside its state directory. */
export const AGENT_DATABASE_FILE = 'agent.db';

/**
 * Schema migrations, applied in order; `user_version` records how many have run.
 * Every table backs a gate of the intent decision order, so a restart must not
 * reset it: a forgotten seen id re-opens replay, a forgotten request or token
 * count re-opens the rate limit or the daily budget.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE seen_intents (
     id TEXT PRIMARY KEY,
     issued_at INTEGER NOT NULL
   ) STRICT`,
  `CREATE INDEX seen_intents_by_issued_at ON seen_intents(issued_at)`,
  `CREATE TABLE executed_requests (
     at INTEGER NOT NULL
   ) STRICT`,
  `CREATE INDEX executed_requests_by_at ON executed_requests(at)`,
  `CREATE TABLE token_usage (
     day TEXT PRIMARY KEY CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
     tokens INTEGER NOT NULL CHECK (tokens >= 0)
   ) STRICT`,
  // Rows from before this column were answered in memory by an earlier agent: count them as answered.
  `ALTER TABLE seen_intents ADD COLUMN answered INTEGER NOT NULL DEFAULT 1`,
  `CREATE TABLE result_outbox (
     intent_id TEXT PRIMARY KEY,
     payload BLOB NOT NULL,
     signature BLOB NOT NULL
   ) STRICT`,
];

/**
 * The one place that opens the agent's database (core/storage/sqlite-database.ts: WAL, synchronous=FULL):
 * a write has reached the disk when the statement returns, which the seen-id store relies on (an id is
 * recorded before its intent runs).
 */
export function openAgentDatabase(path: string): AgentDatabase {
  return openSqliteDatabase(path, { migrations: MIGRATIONS, what: 'agent database', program: 'agent' });
}

/** Runs a function as one transaction of `db` (built once: better-sqlite3 compiles a wrapper per db.transaction call). */
export function transactionRunner(db: AgentDatabase): <T>(fn: () => T) => T {
  const run = db.transaction((fn: () => unknown) => fn());
  return <T>(fn: () => T) => run(fn) as T;
}
