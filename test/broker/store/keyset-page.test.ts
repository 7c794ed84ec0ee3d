import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keysetBounds, readPage, type Keyed } from '../../../broker/store/keyset-page';
import { encodeCursor } from '../../../core/rpc/pages';
import { tempBrokerDatabase } from './support/temp-database';

type Row = Keyed & { name: string };

/** A table of its own in a real broker database: `n` rows, several sharing each sort key (the row id breaks ties). */
function pagedTable(n: number) {
  const { db } = tempBrokerDatabase();
  db.exec('CREATE TABLE things (name TEXT NOT NULL, at INTEGER NOT NULL) STRICT');
  const insert = db.prepare('INSERT INTO things (name, at) VALUES (?, ?)');
  for (let i = 0; i < n; i++) insert.run(`t${i}`, Math.floor(i / 3));
  const select = (op: '<' | '>', dir: 'ASC' | 'DESC') =>
    db.prepare<[Record<string, unknown>], Row>(
      `SELECT name, at AS page_key, rowid AS page_rowid FROM things WHERE (at, rowid) ${op} (@key, @rowid) ORDER BY at ${dir}, rowid ${dir} LIMIT @limit`,
    );
  return { insert, newest: select('<', 'DESC'), oldest: select('>', 'ASC') };
}

function walk(statement: ReturnType<typeof pagedTable>['newest'], order: 'newest-first' | 'oldest-first', limit: number): string[][] {
  const pages: string[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = readPage(statement, {}, { limit, cursor, order }, (row) => row.name);
    pages.push(page.items);
    if (page.nextCursor === null) return pages;
    cursor = page.nextCursor;
  }
  throw new Error('more than 100 pages');
}

describe('keyset pages (real SQLite file)', () => {
  test('no cursor starts at the newest or the oldest end; a cursor starts right after the position it names', () => {
    assert.deepEqual(keysetBounds(undefined, 'newest-first'), { key: Number.MAX_SAFE_INTEGER, rowid: Number.MAX_SAFE_INTEGER });
    assert.deepEqual(keysetBounds(undefined, 'oldest-first'), { key: Number.MIN_SAFE_INTEGER, rowid: -1 });
    assert.deepEqual(keysetBounds(encodeCursor({ key: 5, rowid: 7 }), 'newest-first'), { key: 5, rowid: 7 });
  });

  test('walking every page gives every row once, in order, both ways, with ties on the sort key split across pages', () => {
    const { newest, oldest } = pagedTable(11);
    const names = Array.from({ length: 11 }, (_, i) => `t${i}`);
    const forward = walk(oldest, 'oldest-first', 4);
    assert.deepEqual(forward, [names.slice(0, 4), names.slice(4, 8), names.slice(8)]);
    assert.deepEqual(walk(newest, 'newest-first', 4).flat(), [...names].reverse());
  });

  test('a page that ends exactly at the last row has no next cursor; an empty table is one empty page', () => {
    const { oldest } = pagedTable(8);
    assert.deepEqual(walk(oldest, 'oldest-first', 4).map((p) => p.length), [4, 4]);
    const empty = pagedTable(0);
    assert.deepEqual(readPage(empty.oldest, {}, { limit: 4, order: 'oldest-first' }, (row) => row.name), { items: [], nextCursor: null });
  });

  test('rows added while a client pages through newest first are neither skipped nor repeated in what remains', () => {
    const { newest, insert } = pagedTable(6);
    const first = readPage(newest, {}, { limit: 3, order: 'newest-first' }, (row) => row.name);
    assert.deepEqual(first.items, ['t5', 't4', 't3']);
    insert.run('late', 99);
    const rest = readPage(newest, {}, { limit: 10, cursor: first.nextCursor!, order: 'newest-first' }, (row) => row.name);
    assert.deepEqual(rest, { items: ['t2', 't1', 't0'], nextCursor: null });
  });

  test('one item larger than the whole response budget is an error, not a page over the budget', () => {
    const { oldest } = pagedTable(1);
    assert.throws(() => readPage(oldest, {}, { limit: 1, order: 'oldest-first' }, () => 'x'.repeat(2 ** 22)), /BUDGETS\.listResponseBytes/);
  });
});
