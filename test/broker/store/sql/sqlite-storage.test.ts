// SQLite-only behaviour of the storage layer, on a real broker.db (openDatabase): its prepared statements are
// cached within BUDGETS.preparedStatementsCached, and its writes and transactions reach the metrics' timing listener.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { BUDGETS } from '../../../../core/budgets';
import { onStorageTiming, type StorageOp } from '../../../../broker/store/storage-timing';
import { sqliteStorage } from './support/backends';
import { did } from './support/rows';

test('IN-lists of every length keep at most BUDGETS.preparedStatementsCached statements prepared', async () => {
  const { storage } = sqliteStorage();
  const limit = BUDGETS.preparedStatementsCached.limit;
  const dids = Array.from({ length: limit + 1 }, (_, i) => did(i));
  const byLength = (n: number) => storage.db.selectFrom('users').select('did').where('did', 'in', dids.slice(0, n)).execute();
  for (let n = 1; n <= limit; n++) await byLength(n);
  assert.equal(storage.cachedStatements, limit, 'at the bound: every text kept');
  await byLength(limit + 1);
  assert.equal(storage.cachedStatements, limit, 'at the bound + 1: one dropped');
  // A text used again is served, whether it stayed cached or was dropped and is prepared afresh.
  await byLength(limit);
  await byLength(1);
  assert.equal(storage.cachedStatements, limit);
  assert.deepEqual(await byLength(limit + 1), []);
});

test('a pragma is never served from the cache: each one is applied again', async () => {
  const { storage, handle } = sqliteStorage();
  for (const value of ['NORMAL', 'FULL', 'NORMAL', 'FULL']) {
    await sql.raw(`PRAGMA synchronous = ${value}`).execute(storage.db);
    assert.equal(handle.pragma('synchronous', { simple: true }), value === 'NORMAL' ? 1 : 2);
  }
  assert.equal(storage.cachedStatements, 0);
});

test('writes and transactions through the query layer are timed for the metrics, as the handle\'s own are', async () => {
  const { storage, handle } = sqliteStorage();
  const timed: StorageOp[] = [];
  const unsubscribe = onStorageTiming(handle, (op, seconds) => {
    assert.ok(seconds >= 0 && seconds < 60);
    timed.push(op);
  });
  await storage.db.selectFrom('users').selectAll().execute();
  assert.deepEqual(timed, [], 'reads are not timed');
  await storage.db.insertInto('users').values({ did: did(1), id_b64: 'x', name: 'a', role: 'owner', created_at: 1, last_seen: 1 }).execute();
  assert.deepEqual(timed, ['run']);
  await storage.transaction((trx) => trx.updateTable('users').set({ last_seen: 2 }).execute());
  await storage.transaction((trx) => trx.updateTable('users').set({ last_seen: 3 }).execute(), { relaxed: true });
  await assert.rejects(storage.transaction(() => Promise.reject(new Error('rolled back'))), /rolled back/);
  assert.deepEqual(timed.filter((op) => op === 'transaction').length, 3);
  unsubscribe();
  await storage.transaction((trx) => trx.updateTable('users').set({ last_seen: 4 }).execute());
  assert.equal(timed.filter((op) => op === 'transaction').length, 3);
});

test('a query through storage.db inside storage.transaction fails after the bounded wait, instead of hanging every flow behind it', async () => {
  const { storage } = sqliteStorage({ connectionWaitMs: 300 });
  const started = Date.now();
  await assert.rejects(
    storage.transaction(async (trx) => {
      await trx.insertInto('users').values({ did: did(1), id_b64: 'x', name: 'a', role: 'owner', created_at: 1, last_seen: 1 }).execute();
      return storage.db.selectFrom('users').selectAll().execute();
    }),
    /waited 300 ms for the SQLite connection: inside storage.transaction, query through its trx, not storage\.db/,
  );
  assert.ok(Date.now() - started >= 290);
  // Rolled back, and the connection serves the next flow.
  assert.deepEqual(await storage.db.selectFrom('users').selectAll().execute(), []);
  // A flow that waits its turn behind a transaction shorter than the bound is served.
  const slow = storage.transaction(async (trx) => {
    await new Promise((r) => setTimeout(r, 100));
    await trx.insertInto('users').values({ did: did(2), id_b64: 'x', name: 'b', role: 'owner', created_at: 1, last_seen: 1 }).execute();
  });
  assert.equal((await storage.db.selectFrom('users').selectAll().execute()).length, 1);
  await slow;
});

test('close() ends the query layer and leaves the handle open for its opener (stores not yet converted share it)', async () => {
  const { storage, handle } = sqliteStorage();
  await storage.db.selectFrom('users').selectAll().execute();
  await storage.close();
  await assert.rejects(storage.db.selectFrom('users').selectAll().execute(), /destroyed/);
  assert.deepEqual(handle.prepare('SELECT count(*) AS n FROM users').get(), { n: 0 });
});

test('a transaction SQLite rolled back itself (the database full) fails with SQLITE_FULL, not with the ROLLBACK that follows it', async () => {
  const { storage, handle } = sqliteStorage();
  // A database that cannot grow past its current pages: the next large write is SQLITE_FULL, which may roll back the
  // whole transaction (SQLite's own choice), after which Kysely's ROLLBACK finds no transaction.
  const pages = handle.pragma('page_count', { simple: true }) as number;
  handle.pragma(`max_page_count = ${pages + 2}`);
  const big = 'x'.repeat(64 * 1024);
  const write = storage.transaction(async (trx) => {
    for (let i = 0; i < 8; i++) {
      await trx.insertInto('users').values({ did: did(i), id_b64: big, name: `u${i}`, role: 'viewer', created_at: i, last_seen: i }).execute();
    }
  });
  await assert.rejects(write, (err: Error & { code?: string }) => err.code === 'SQLITE_FULL');
  assert.equal(handle.inTransaction, false);
  handle.pragma('max_page_count = 1073741823');
  await storage.db.insertInto('users').values({ did: did(99), id_b64: 'x', name: 'after', role: 'viewer', created_at: 1, last_seen: 1 }).execute();
});
