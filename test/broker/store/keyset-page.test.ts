import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keysetBounds, readPage, type Order, type PageRows } from '../../../broker/store/keyset-page';
import type { Storage } from '../../../broker/store/sql/storage';
import { encodeCursor } from '../../../core/rpc/pages';
import { backends } from './sql/support/backends';
import { did } from './support/temp-database';

type Row = { name: string; page_key: number; page_rowid: number };

/** `n` agents in a fresh broker database, several sharing each first_seen (the row id breaks ties), and a Kysely keyset query over them. */
async function pagedTable(storage: Storage, n: number) {
  let added = 0;
  const insert = async (name: string, at: number) => {
    await storage.db
      .insertInto('agents')
      .values({ did: did(1000 + added++), id_b64: 'AA==', name, requested: '[]', status: 'approved', first_seen: at, last_seen: at })
      .execute();
  };
  for (let i = 0; i < n; i++) await insert(`t${i}`, Math.floor(i / 3));
  const rows =
    (order: Order): PageRows<Row> =>
    (bounds, limit) => {
      const direction = order === 'newest-first' ? 'desc' : 'asc';
      return storage.db
        .selectFrom('agents')
        .select(['name', 'first_seen as page_key', 'rowid as page_rowid'])
        .where((eb) => eb(eb.refTuple('first_seen', 'rowid'), order === 'newest-first' ? '<' : '>', eb.tuple(bounds.key, bounds.rowid)))
        .orderBy('first_seen', direction)
        .orderBy('rowid', direction)
        .limit(limit)
        .execute();
    };
  return { insert, newest: rows('newest-first'), oldest: rows('oldest-first') };
}

async function walk(rows: PageRows<Row>, order: Order, limit: number): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await readPage(rows, { limit, cursor, order }, (row) => row.name);
    pages.push(page.items);
    if (page.nextCursor === null) return pages;
    cursor = page.nextCursor;
  }
  throw new Error('more than 100 pages');
}

test('no cursor starts at the newest or the oldest end; a cursor starts right after the position it names', () => {
  assert.deepEqual(keysetBounds(undefined, 'newest-first'), { key: Number.MAX_SAFE_INTEGER, rowid: Number.MAX_SAFE_INTEGER });
  assert.deepEqual(keysetBounds(undefined, 'oldest-first'), { key: Number.MIN_SAFE_INTEGER, rowid: -1 });
  assert.deepEqual(keysetBounds(encodeCursor({ key: 5, rowid: 7 }), 'newest-first'), { key: 5, rowid: 7 });
});

for (const backend of backends()) {
  describe(`keyset pages on ${backend.name}`, () => {
    test('walking every page gives every row once, in order, both ways, with ties on the sort key split across pages', async () => {
      const { newest, oldest } = await pagedTable(await backend.open(), 11);
      const names = Array.from({ length: 11 }, (_, i) => `t${i}`);
      const forward = await walk(oldest, 'oldest-first', 4);
      assert.deepEqual(forward, [names.slice(0, 4), names.slice(4, 8), names.slice(8)]);
      assert.deepEqual((await walk(newest, 'newest-first', 4)).flat(), [...names].reverse());
    });

    test('a page that ends exactly at the last row has no next cursor; an empty table is one empty page', async () => {
      const { oldest } = await pagedTable(await backend.open(), 8);
      assert.deepEqual((await walk(oldest, 'oldest-first', 4)).map((p) => p.length), [4, 4]);
      const empty = await pagedTable(await backend.open(), 0);
      assert.deepEqual(await readPage(empty.oldest, { limit: 4, order: 'oldest-first' }, (row) => row.name), { items: [], nextCursor: null });
    });

    test('rows added while a client pages through newest first are neither skipped nor repeated in what remains', async () => {
      const { newest, insert } = await pagedTable(await backend.open(), 6);
      const first = await readPage(newest, { limit: 3, order: 'newest-first' }, (row) => row.name);
      assert.deepEqual(first.items, ['t5', 't4', 't3']);
      await insert('late', 99);
      const rest = await readPage(newest, { limit: 10, cursor: first.nextCursor!, order: 'newest-first' }, (row) => row.name);
      assert.deepEqual(rest, { items: ['t2', 't1', 't0'], nextCursor: null });
    });

    test('one item larger than the whole response budget is an error, not a page over the budget', async () => {
      const { oldest } = await pagedTable(await backend.open(), 1);
      await assert.rejects(readPage(oldest, { limit: 1, order: 'oldest-first' }, () => 'x'.repeat(2 ** 22)), /BUDGETS\.listResponseBytes/);
    });
  });
}
