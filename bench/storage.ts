/**
 * Storage benchmark (broker/store/sql, issue 20): what the query layer costs against the raw better-sqlite3 the
 * stores use today, and what PostgreSQL costs against SQLite, for the two calls the hot path is made of.
 *
 * What is measured (operations per second), on a real broker.db (database.ts's openDatabase: WAL, synchronous=FULL)
 * in a temp dir and on a real PostgreSQL 15 server started for the suite as the tests start it (127.0.0.1, fsync on):
 *   pk-select   one users row by primary key, all columns.
 *   pk-select-precompiled  the same query compiled once, run with each call's parameter (db.executeQuery):
 *               what the query layer costs without building and compiling the query at every call.
 *   insert-trx  one invitations row inserted in a transaction of its own (a durable commit: an fsync on SQLite,
 *               a WAL flush on PostgreSQL).
 *   insert-relaxed  the same in a relaxed transaction (relaxedWrites / { relaxed: true }): intent bookkeeping.
 * raw: a cached better-sqlite3 statement (.get / .run inside db.transaction), synchronous, as the stores do today;
 * sqlite / postgres: the same call as a Kysely query through openSqliteStorage / openPostgresStorage, awaited.
 * Ratios, run by run: cost = raw / sqlite (x1.3 means the query layer takes 1.3 times as long as raw), and
 * postgres / sqlite (throughput: 0.5 means a call on PostgreSQL takes twice as long). The server shares the
 * machine's cores with the bench: its figures include its own CPU, not a network.
 */
import { join } from 'node:path';
import { openDatabase, relaxedWrites } from '../broker/store/database';
import { openPostgresStorage } from '../broker/store/sql/postgres-storage';
import { openSqliteStorage } from '../broker/store/sql/sqlite-storage';
import type { Storage } from '../broker/store/sql/storage';
import { startPostgres } from '../test/support/postgres';
import { removeDirs, tempDir } from '../test/support/processes';
import { measure, ratioOf, type Suite } from './measure';

const USERS = 1000;
const did = (n: number): string => `did:vaultys:${n.toString(16).padStart(40, '0')}`;
const userRow = (n: number) => ({ did: did(n), id_b64: 'x'.repeat(44), name: `user-${n}`, role: 'viewer' as const, created_at: n, last_seen: n });

/** The two calls on one Storage; `tag` keeps each storage's invitation tokens apart. */
function storageCases(storage: Storage, tag: string) {
  let read = 0;
  let written = 0;
  const byDid = (d: string) => storage.db.selectFrom('users').selectAll().where('did', '=', d);
  const compiled = byDid(did(0)).compile();
  const insert = (relaxed: boolean) => () =>
    storage.transaction(
      (trx) =>
        trx
          .insertInto('invitations')
          .values({ token_hash: `${tag}-${written++}`, role: 'viewer', created_by: did(0), created_at: written, expires_at: written })
          .execute(),
      { relaxed },
    );
  return {
    pkSelect: () => byDid(did(read++ % USERS)).executeTakeFirst(),
    pkSelectPrecompiled: () => storage.db.executeQuery({ ...compiled, parameters: [did(read++ % USERS)] }),
    insertTrx: insert(false),
    insertRelaxed: insert(true),
  };
}

async function seed(storage: Storage): Promise<void> {
  await storage.transaction(async (trx) => {
    for (let n = 0; n < USERS; n += 100) await trx.insertInto('users').values(Array.from({ length: 100 }, (_, i) => userRow(n + i))).execute();
  });
}

export const storageSuite: Suite = {
  name: 'storage',
  async run(options) {
    const dir = tempDir('bench-storage');
    const handle = openDatabase(join(dir, 'broker.db'));
    const sqlite = openSqliteStorage(handle);
    const server = await startPostgres({ fsync: true });
    try {
      const postgres = await openPostgresStorage(await server.createDatabase());
      try {
        await seed(sqlite);
        await seed(postgres);
        const rawSelect = handle.prepare('SELECT * FROM users WHERE did = ?');
        const rawInsert = handle.prepare('INSERT INTO invitations (token_hash, role, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)');
        const rawInsertTrx = handle.transaction((n: number) => rawInsert.run(`raw-${n}`, 'viewer', did(0), n, n));
        const relaxed = relaxedWrites(handle);
        let rawRead = 0;
        let rawWritten = 0;
        const ours = storageCases(sqlite, 'sqlite');
        const theirs = storageCases(postgres, 'postgres');
        const figures = await measure(
          [
            { name: 'raw-pk-select', op: () => rawSelect.get(did(rawRead++ % USERS)) },
            { name: 'sqlite-pk-select', op: ours.pkSelect },
            { name: 'postgres-pk-select', op: theirs.pkSelect },
            { name: 'sqlite-pk-select-precompiled', op: ours.pkSelectPrecompiled },
            { name: 'raw-insert-trx', op: () => rawInsertTrx(rawWritten++) },
            { name: 'sqlite-insert-trx', op: ours.insertTrx },
            { name: 'postgres-insert-trx', op: theirs.insertTrx },
            { name: 'raw-insert-relaxed', op: () => relaxed(() => rawInsertTrx(rawWritten++)) },
            { name: 'sqlite-insert-relaxed', op: ours.insertRelaxed },
            { name: 'postgres-insert-relaxed', op: theirs.insertRelaxed },
          ],
          options,
        );
        const f = (name: string) => figures[name]!;
        return {
          ...figures,
          sqliteCostVsRaw: {
            pkSelect: ratioOf(f('raw-pk-select'), f('sqlite-pk-select')),
            pkSelectPrecompiled: ratioOf(f('raw-pk-select'), f('sqlite-pk-select-precompiled')),
            insertTrx: ratioOf(f('raw-insert-trx'), f('sqlite-insert-trx')),
            insertRelaxed: ratioOf(f('raw-insert-relaxed'), f('sqlite-insert-relaxed')),
          },
          postgresVsSqlite: {
            pkSelect: ratioOf(f('postgres-pk-select'), f('sqlite-pk-select')),
            insertTrx: ratioOf(f('postgres-insert-trx'), f('sqlite-insert-trx')),
            insertRelaxed: ratioOf(f('postgres-insert-relaxed'), f('sqlite-insert-relaxed')),
          },
        };
      } finally {
        await postgres.close();
      }
    } finally {
      await sqlite.close();
      handle.close();
      await server.stop();
      removeDirs(dir);
    }
  },
};
