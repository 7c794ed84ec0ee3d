// PostgreSQL-only behaviour of the storage layer, on a real server started for this file: migrations run once
// however many nodes start at once, a newer schema is refused, the URL's password never reaches an error, and
// BIGINTs read as JS numbers without rounding.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { openPostgresStorage } from '../../../../broker/store/sql/postgres-storage';
import { POSTGRES_MIGRATIONS } from '../../../../broker/store/sql/postgres-schema';
import { freePort } from '../../../support/free-port';
import { postgresServer, postgresStorage } from './support/backends';

const server = postgresServer();

test('nodes that open one fresh database at once migrate it exactly once, and all start', async () => {
  const url = await server().createDatabase();
  const nodes = await Promise.all([1, 2, 3].map(() => openPostgresStorage(url)));
  try {
    const { db } = nodes[0]!;
    const applied = await sql<{ version: number }>`SELECT version FROM schema_migrations ORDER BY version`.execute(db);
    assert.deepEqual(applied.rows.map((r) => r.version), POSTGRES_MIGRATIONS.map((_, i) => i + 1));
    assert.deepEqual(await db.selectFrom('revocation_list').selectAll().execute(), [{ singleton: 1, version: 0 }]);
    // Each node works on the migrated schema.
    for (const [i, node] of nodes.entries()) {
      await node.db.insertInto('users').values({ did: `u${i}`, id_b64: 'x', name: `n${i}`, role: 'viewer', created_at: 1, last_seen: 1 }).execute();
    }
    assert.equal((await db.selectFrom('users').selectAll().execute()).length, 3);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});

test('a database a newer broker migrated is refused, with the same words as a newer SQLite file, and left as it was', async () => {
  const url = await server().createDatabase();
  const first = await openPostgresStorage(url);
  const newer = POSTGRES_MIGRATIONS.length + 1;
  await sql`INSERT INTO schema_migrations (version, applied_at) VALUES (${newer}, 0)`.execute(first.db);
  await first.close();
  await assert.rejects(
    openPostgresStorage(url),
    new RegExp(`: database schema version ${newer} is newer than this broker \\(${POSTGRES_MIGRATIONS.length}\\); upgrade the broker$`),
  );
  const again = await new pg.Client({ connectionString: url });
  await again.connect();
  try {
    assert.equal((await again.query('SELECT count(*)::int AS n FROM schema_migrations')).rows[0].n, newer);
  } finally {
    await again.end();
  }
});

test("a connection that fails names the server and its cause, never the URL's password", async () => {
  const port = await freePort();
  const secret = 'Sup3r/s3cret@pw';
  const attempts = [
    `postgres://broker:${encodeURIComponent(secret)}@127.0.0.1:${port}/vaultysclaw`,
    `postgres://broker:${secret}@127.0.0.1:${port}/vaultysclaw`,
    `postgres://broker:${encodeURIComponent(secret)}@[127.0.0.1:${port}/vaultysclaw`,
  ];
  for (const url of attempts) {
    const err = await openPostgresStorage(url, { connectTimeoutMs: 2_000 }).then(
      () => assert.fail(`${url.length}-character URL: opened with nothing listening`),
      (e: unknown) => e as Error,
    );
    assert.match(err.message, /^PostgreSQL (at 127\.0\.0\.1:\d+\/vaultysclaw: .*ECONNREFUSED|\(the URL does not parse)/);
    for (const text of [err.message, err.stack ?? '', inspect(err, { depth: 5 }), JSON.stringify(err)]) {
      for (const spelling of [secret, encodeURIComponent(secret), 'Sup3r', 's3cret']) assert.ok(!text.includes(spelling), `error shows the password: ${text}`);
    }
  }
  const refused = await openPostgresStorage(attempts[0]!, { connectTimeoutMs: 2_000 }).catch((e: Error) => e);
  assert.match(String(refused), new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${port}/vaultysclaw: .*ECONNREFUSED`));
});

test('BIGINTs read as numbers up to MAX_SAFE_INTEGER; past it the query fails rather than round; the process-wide parser is untouched', async () => {
  const { db } = await postgresStorage(server());
  const max = await sql<{ n: number; c: number }>`SELECT ${Number.MAX_SAFE_INTEGER}::bigint AS n, count(*) AS c FROM users`.execute(db);
  assert.deepEqual(max.rows, [{ n: Number.MAX_SAFE_INTEGER, c: 0 }]);
  await assert.rejects(sql`SELECT 9007199254740993::bigint AS n`.execute(db), /past Number\.MAX_SAFE_INTEGER/);
  assert.equal((await sql<{ one: number }>`SELECT 1::bigint AS one`.execute(db)).rows[0]!.one, 1, 'the connection still works');
  assert.equal(pg.types.getTypeParser(20, 'text')('5'), '5');
});
