import type { Statement } from 'better-sqlite3';
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

/**
 * Reads one page: at most `limit` items (the statement's LIMIT is `limit` + 1,
 * so SQLite reads no more), and fewer when the next item would take the page's
 * JSON past BUDGETS.listResponseBytes. Items are measured one by one as they
 * are made, so no JSON larger than the budget is ever built.
 */
export function readPage<R extends Keyed, T>(
  statement: Statement<[Record<string, unknown>], R>,
  params: Record<string, unknown>,
  page: PageRequest & { order: Order },
  toItem: (row: R) => T,
): Page<T> {
  const bounds = keysetBounds(page.cursor, page.order);
  const items: T[] = [];
  let bytes = PAGE_ENVELOPE_BYTES;
  let last: PagePosition | undefined;
  let more = false;
  // One row past the page tells whether there is a next one.
  for (const row of statement.iterate({ ...params, key: bounds.key, rowid: bounds.rowid, limit: page.limit + 1 })) {
    if (items.length === page.limit) {
      more = true;
      break;
    }
    const item = toItem(row);
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
