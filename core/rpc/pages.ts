import { z } from 'zod';
import { BUDGETS } from '../budgets';

/**
 * Pages of every list method. A viewer may ask for any list; what bounds the
 * broker's work and memory per request is the page: at most
 * BUDGETS.listPageItems items (more is invalid params), at most
 * BUDGETS.listResponseBytes of JSON (the broker ends a page early rather than
 * outgrow it), read from the store with keyset pagination so no query loads
 * more rows than a page.
 *
 * The cursor is opaque to clients: it names the position after the last item
 * (its sort key and row id), so a page never skips or repeats an item when rows
 * are added meanwhile.
 */
export const Cursor = z
  .string()
  .max(64)
  .refine((s) => decodeCursor(s) !== undefined, { message: 'not a cursor this broker issued' });

export const DEFAULT_PAGE_ITEMS = 50;

const pageShape = {
  limit: z.number().int().positive().max(BUDGETS.listPageItems.limit).default(DEFAULT_PAGE_ITEMS),
  cursor: Cursor.optional(),
};

/** A list method's params: its own filters plus `limit` and `cursor`. */
export const pageParams = <S extends z.ZodRawShape>(filters: S) => z.strictObject({ ...filters, ...pageShape });

/** A list method's result: the items of one page and the cursor of the next (null: this was the last page). */
export const page = <T extends z.ZodType>(item: T) => z.strictObject({ items: z.array(item).max(BUDGETS.listPageItems.limit), nextCursor: z.string().max(64).nullable() });

/** What a list method asks of a store, once its params are checked. */
export interface PageRequest {
  limit: number;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Where a page ends: the sort key and row id of its last item. */
export interface PagePosition {
  key: number;
  rowid: number;
}

export function encodeCursor(position: PagePosition): string {
  return Buffer.from(`${position.key}.${position.rowid}`).toString('base64url');
}

export function decodeCursor(cursor: string): PagePosition | undefined {
  const match = /^(-?\d{1,16})\.(\d{1,19})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!match) return undefined;
  const position = { key: Number(match[1]), rowid: Number(match[2]) };
  return Number.isSafeInteger(position.key) && Number.isSafeInteger(position.rowid) ? position : undefined;
}

type FetchPage<T> = (cursor: string | undefined) => Promise<Page<T>>;

/** The items of a list, page after page, at most `maxPages` pages: `complete` says whether that was all of it. */
export async function collectPages<T>(fetch: FetchPage<T>, maxPages = 100): Promise<{ items: T[]; complete: boolean }> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const next = await fetch(cursor);
    items.push(...next.items);
    if (next.nextCursor === null) return { items, complete: true };
    cursor = next.nextCursor;
  }
  return { items, complete: false };
}

/** Every item of a list, for clients that need the whole (small) list: more than `maxPages` pages is an error, not a silent cut. */
export async function allPages<T>(fetch: FetchPage<T>, maxPages = 100): Promise<T[]> {
  const { items, complete } = await collectPages(fetch, maxPages);
  if (!complete) throw new Error(`the list has more than ${maxPages} pages; narrow it with a filter`);
  return items;
}
