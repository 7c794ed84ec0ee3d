import { sql, type SelectQueryBuilder } from 'kysely';
import { BUDGETS } from '../../core/budgets';
import { decodeCursor, encodeCursor, type Page, type PagePosition, type PageRequest } from '../../core/rpc/pages';

/** What every paged query selects besides its columns: the sort key and the row id, named for the cursor. */
export interface Keyed {
  page_key: number;
  page_rowid: number;
}

export type Order = 'newest-first' | 'oldest-first';

/**
 * The keyset bounds of a page: the query reads `WHERE (sort key, rowid) < (@key, @rowid)`
 * (newest first) or `>` (oldest first), `ORDER BY` the same, `LIMIT @limit`.
 */
export function keysetBounds(cursor: string | undefined, order: Order): PagePosition {
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  if (after) return after;
  return order === 'newest-first' ? { key: Number.MAX_SAFE_INTEGER, rowid: Number.MAX_SAFE_INTEGER } : { key: Number.MIN_SAFE_INTEGER, rowid: -1 };
}

/** Room left in a page for the JSON-RPC envelope and `nextCursor` around the items. */
export const PAGE_ENVELOPE_BYTES = 512;

/** Reads at most `limit` rows after `bounds` in the page's order, each with its sort key and row id (Keyed). */
export type PageRows<R extends Keyed> = (bounds: PagePosition, limit: number) => Promise<R[]>;

/**
 * Reads one page: at most `limit` items (the query is asked for `limit` + 1
 * rows, so the database reads no more), and fewer when the next item would take
 * the page's JSON past BUDGETS.listResponseBytes. Items are measured one by one
 * as they are made, so no JSON larger than the budget is ever built.
 */
export async function readPage<R extends Keyed, T>(rows: PageRows<R>, page: PageRequest & { order: Order }, toItem: (row: R) => T | Promise<T>): Promise<Page<T>> {
  const bounds = keysetBounds(page.cursor, page.order);
  const items: T[] = [];
  let bytes = PAGE_ENVELOPE_BYTES;
  let last: PagePosition | undefined;
  let more = false;
  // One row past the page tells whether there is a next one. Read whole (at most limit + 1 rows) before any item is
  // made: making one may await another query, which an open cursor would keep the connection busy for.
  for (const row of await rows(bounds, page.limit + 1)) {
    if (items.length === page.limit) {
      more = true;
      break;
    }
    const item = await toItem(row);
    const size = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (bytes + size > BUDGETS.listResponseBytes.limit) {
      if (items.length === 0) throw new Error(`one list item takes ${size} bytes, more than BUDGETS.listResponseBytes`);
      more = true;
      break;
    }
    bytes += size;
    items.push(item);
    last = { key: row.page_key, rowid: row.page_rowid };
  }
  return { items, nextCursor: more && last ? encodeCursor(last) : null };
}

/**
 * PageRows over a Kysely select of a table read a page at a time (PAGED_TABLES: `rowid` is SQLite's own or
 * PostgreSQL's identity): the keyset bound on (sortKey, rowid), the order and the limit, the same on both engines.
 */
export function keysetRows<DB, TB extends keyof DB, O>(query: SelectQueryBuilder<DB, TB, O>, sortKey: string, order: Order): PageRows<O & Keyed> {
  const direction = order === 'newest-first' ? 'desc' : 'asc';
  const key = sql.ref(sortKey);
  const rowid = sql.ref('rowid');
  return (bounds, limit) =>
    query
      .select([sql<number>`${key}`.as('page_key'), sql<number>`${rowid}`.as('page_rowid')])
      .where(sql<boolean>`(${key}, ${rowid}) ${sql.raw(order === 'newest-first' ? '<' : '>')} (${bounds.key}, ${bounds.rowid})`)
      .orderBy(sql`${key} ${sql.raw(direction)}`)
      .orderBy(sql`${rowid} ${sql.raw(direction)}`)
      .limit(limit)
      .execute() as Promise<(O & Keyed)[]>;
}
