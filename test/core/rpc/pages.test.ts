import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { BUDGETS } from '../../../core/budgets';
import { allPages, collectPages, Cursor, decodeCursor, DEFAULT_PAGE_ITEMS, encodeCursor, pageParams, type Page } from '../../../core/rpc/pages';

describe('cursors', () => {
  test('a position encodes to an opaque cursor and decodes back, at the extremes too', () => {
    for (const position of [{ key: 0, rowid: 0 }, { key: -5, rowid: 7 }, { key: Number.MAX_SAFE_INTEGER, rowid: Number.MAX_SAFE_INTEGER }, { key: Number.MIN_SAFE_INTEGER, rowid: 1 }]) {
      const cursor = encodeCursor(position);
      assert.match(cursor, /^[A-Za-z0-9_-]+$/);
      assert.deepEqual(decodeCursor(cursor), position);
      assert.ok(Cursor.safeParse(cursor).success);
    }
  });

  test('a cursor this broker did not issue is refused: not base64url of "key.rowid", a negative row id, past the safe integers', () => {
    const forged = (text: string) => Buffer.from(text, 'latin1').toString('base64url');
    for (const cursor of ['', '!!!', forged('1'), forged('1.2.3'), forged('a.1'), forged('1.-2'), forged('1.2 '), forged('9007199254740993.1'), forged(`1.${'9'.repeat(19)}`)]) {
      assert.equal(decodeCursor(cursor), undefined, cursor);
      assert.equal(Cursor.safeParse(cursor).success, false, cursor);
    }
    assert.equal(Cursor.safeParse('A'.repeat(65)).success, false, 'longer than any cursor');
  });
});

describe('page params', () => {
  const Params = pageParams({ agent: z.string().optional() });

  test(`limit defaults to ${DEFAULT_PAGE_ITEMS}; BUDGETS.listPageItems (${BUDGETS.listPageItems.limit}) is taken, one more is invalid params`, () => {
    assert.equal(Params.parse({}).limit, DEFAULT_PAGE_ITEMS);
    assert.equal(Params.parse({ limit: BUDGETS.listPageItems.limit }).limit, BUDGETS.listPageItems.limit);
    assert.equal(Params.safeParse({ limit: BUDGETS.listPageItems.limit + 1 }).success, false);
    assert.equal(Params.safeParse({ limit: 0 }).success, false);
    assert.equal(Params.safeParse({ other: 1 }).success, false, 'strict: an unknown filter is refused');
  });
});

describe('reading a whole list', () => {
  /** A list of `n` items served `size` per page, the cursor being the index of the next item. */
  const server = (n: number, size: number) => {
    const calls: (string | undefined)[] = [];
    const fetch = (cursor: string | undefined): Promise<Page<number>> => {
      calls.push(cursor);
      const from = cursor === undefined ? 0 : Number(cursor);
      const items = Array.from({ length: Math.max(0, Math.min(size, n - from)) }, (_, i) => from + i);
      return Promise.resolve({ items, nextCursor: from + size < n ? String(from + size) : null });
    };
    return { fetch, calls };
  };

  test('pages are followed by their cursors until the last', async () => {
    const { fetch, calls } = server(7, 3);
    assert.deepEqual(await collectPages(fetch), { items: [0, 1, 2, 3, 4, 5, 6], complete: true });
    assert.deepEqual(calls, [undefined, '3', '6']);
  });

  test('collectPages stops at maxPages and says the list was not complete; allPages makes that an error', async () => {
    assert.deepEqual(await collectPages(server(10, 2).fetch, 3), { items: [0, 1, 2, 3, 4, 5], complete: false });
    await assert.rejects(allPages(server(10, 2).fetch, 3), /more than 3 pages/);
    assert.deepEqual(await allPages(server(6, 2).fetch, 3), [0, 1, 2, 3, 4, 5]);
  });
});
