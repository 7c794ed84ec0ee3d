import type { Statement } from 'better-sqlite3';
import { BUDGETS } from '../../../core/budgets';
import type { SqliteDatabase } from '../../../core/storage/sqlite-database';

/**
 * Prepared statements by SQL text, least recently used dropped past BUDGETS.preparedStatementsCached: preparing
 * costs about as much as running a point query (spike 20: x2 on a PK select), and a request that picks an IN-list's
 * length makes a text of its own, so an unbounded cache would grow with every length anyone asks for.
 */
export class StatementCache {
  readonly #db: SqliteDatabase;
  readonly #limit: number;
  // A Map iterates in insertion order: a hit is moved to the end, so the first key is the least recently used.
  readonly #statements = new Map<string, Statement<unknown[]>>();

  constructor(db: SqliteDatabase, limit = BUDGETS.preparedStatementsCached.limit) {
    this.#db = db;
    this.#limit = limit;
  }

  get size(): number {
    return this.#statements.size;
  }

  get(sql: string): Statement<unknown[]> {
    const cached = this.#statements.get(sql);
    if (cached) {
      this.#statements.delete(sql);
      this.#statements.set(sql, cached);
      return cached;
    }
    const statement = this.#db.prepare<unknown[]>(sql);
    // SQLite applies a pragma when its statement is prepared (database.ts, relaxedWrites): one run again would do nothing.
    if (/^\s*pragma\b/i.test(sql)) return statement;
    if (this.#statements.size >= this.#limit) this.#statements.delete(this.#statements.keys().next().value!);
    this.#statements.set(sql, statement);
    return statement;
  }

  clear(): void {
    this.#statements.clear();
  }
}
