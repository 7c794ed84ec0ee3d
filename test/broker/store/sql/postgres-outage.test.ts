// PostgreSQL going away under a running broker's storage, on a real server stopped and started again on its data
// directory: queries fail closed with one error that names the server (never the password) and that the RPC layer
// answers as storage-failed; readiness says so; the pool reconnects by itself when the server is back.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, test } from 'node:test';
import { sql } from 'kysely';
import { openPostgresStorage } from '../../../../broker/store/sql/postgres-storage';
import { DATABASE_UNAVAILABLE, storageFailure } from '../../../../core/storage/storage-failure';
import { waitFor } from '../../../support/processes';
import { postgresServer } from './support/backends';

const server = postgresServer();
// Trust authentication on loopback ignores it; it is there to be looked for in every error.
const PASSWORD = 'Outage-s3cret-pw';

const withPassword = (url: string) => url.replace('postgres@', `postgres:${PASSWORD}@`);

test('queries while PostgreSQL is down fail with DATABASE_UNAVAILABLE naming host:port/db, and work again once it is back', async () => {
  const url = withPassword(await server().createDatabase());
  const storage = await openPostgresStorage(url, { connectTimeoutMs: 2_000 });
  after(() => storage.close());
  const user = (did: string) => ({ did, id_b64: 'x', name: did, role: 'viewer' as const, created_at: 1, last_seen: 1 });
  await storage.db.insertInto('users').values(user('before')).execute();
  assert.equal(await storage.ping(), null);

  await server().halt();
  const failures: Error[] = [];
  for (const attempt of [
    () => storage.db.selectFrom('users').selectAll().execute(),
    () => storage.db.insertInto('users').values(user('during')).execute(),
    () => storage.transaction((trx) => trx.insertInto('users').values(user('during-trx')).execute()),
  ]) {
    failures.push(await attempt().then(() => assert.fail('a query succeeded with the server down'), (err: Error) => err));
  }
  const place = new RegExp(`^the database is unavailable \\(PostgreSQL at 127\\.0\\.0\\.1:${server().port}/t\\d+: `);
  for (const err of failures) {
    assert.equal((err as { code?: unknown }).code, DATABASE_UNAVAILABLE, err.message);
    assert.match(err.message, place);
    assert.equal(storageFailure(err), err.message, 'the RPC layer answers it as storage-failed, with this message');
    for (const text of [err.message, err.stack ?? '', inspect(err, { depth: 5 })]) assert.ok(!text.includes(PASSWORD), `error shows the password: ${text}`);
  }
  assert.equal(await storage.ping(), 'unavailable');

  await server().resume();
  await waitFor('the pool to reconnect', async () => (await storage.ping()) === null, 20_000, 100);
  await storage.db.insertInto('users').values(user('after')).execute();
  const dids = (await storage.db.selectFrom('users').select('did').orderBy('did').execute()).map((r) => r.did);
  assert.deepEqual(dids, ['after', 'before'], 'what was written before is kept, nothing half-written during the outage');
});

test('a transaction cut by the server going away mid-way is rolled back whole and fails with DATABASE_UNAVAILABLE', async () => {
  const storage = await openPostgresStorage(await server().createDatabase(), { connectTimeoutMs: 2_000 });
  after(() => storage.close());
  const cut = storage
    .transaction(async (trx) => {
      await trx.insertInto('users').values({ did: 'half', id_b64: 'x', name: 'half', role: 'viewer', created_at: 1, last_seen: 1 }).execute();
      // Holds the transaction open while the server shuts down under it.
      await sql`SELECT pg_sleep(30)`.execute(trx);
    })
    .then(() => assert.fail('the transaction committed across a server shutdown'), (err: Error) => err);
  await new Promise((r) => setTimeout(r, 300));
  await server().halt();
  const err = await cut;
  assert.equal((err as { code?: unknown }).code, DATABASE_UNAVAILABLE, err.stack);
  await server().resume();
  await waitFor('the pool to reconnect', async () => (await storage.ping()) === null, 20_000, 100);
  assert.deepEqual(await storage.db.selectFrom('users').selectAll().execute(), []);
});

test("write statements and transactions are timed for the metrics' listener; reads are not; unsubscribing stops it", async () => {
  const storage = await openPostgresStorage(await server().createDatabase());
  after(() => storage.close());
  const seen: string[] = [];
  const unsubscribe = storage.onTiming((op, seconds) => {
    assert.ok(seconds >= 0 && seconds < 60);
    seen.push(op);
  });
  await storage.db.insertInto('users').values({ did: 'a', id_b64: 'x', name: 'a', role: 'viewer', created_at: 1, last_seen: 1 }).execute();
  await storage.db.selectFrom('users').selectAll().execute();
  await storage.transaction((trx) => trx.updateTable('users').set({ last_seen: 2 }).where('did', '=', 'a').execute());
  assert.deepEqual(seen, ['run', 'run', 'transaction']);
  unsubscribe();
  await storage.db.deleteFrom('users').execute();
  assert.equal(seen.length, 3);
});
