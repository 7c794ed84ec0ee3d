// The one query layer on both backends (issue 20): a real SQLite file (openDatabase) and a real PostgreSQL server
// started for this file. The same Kysely queries, the same answers.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { keysetBounds } from '../../../../broker/store/keyset-page';
import type { BrokerTables } from '../../../../broker/store/sql/tables';
import { backends } from './support/backends';
import { did, ROWS } from './support/rows';

const withoutRowid = <R extends object>(rows: R[]): Omit<R, 'rowid'>[] => rows.map(({ rowid: _, ...rest }: R & { rowid?: unknown }) => rest);

const user = (n: number, createdAt = n) => ({ did: did(100 + n), id_b64: 'x', name: `user-${n}`, role: 'viewer' as const, created_at: createdAt, last_seen: 0 });
const userCount = async (db: Kysely<BrokerTables>): Promise<number> =>
  (await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;

for (const backend of backends()) {
  describe(`storage on ${backend.name}`, () => {
    test('a row of every table reads back as written: Buffers, integers up to MAX_SAFE_INTEGER, NULLs, JSON text', async () => {
      const { db } = await backend.open();
      for (const [table, row] of Object.entries(ROWS)) await db.insertInto(table as keyof typeof ROWS).values(row as never).execute();
      for (const [table, row] of Object.entries(ROWS)) {
        const read = await db.selectFrom(table as keyof typeof ROWS).selectAll().execute();
        assert.deepEqual(withoutRowid(read), [row], table);
      }
      assert.ok(Buffer.isBuffer((await db.selectFrom('grants').select('payload').executeTakeFirstOrThrow()).payload));
      assert.deepEqual(await db.selectFrom('revocation_list').selectAll().execute(), [{ singleton: 1, version: 0 }]);
      const updated = await db.updateTable('revocation_list').set({ version: Number.MAX_SAFE_INTEGER }).executeTakeFirst();
      assert.equal(updated.numUpdatedRows, 1n);
      assert.equal((await db.selectFrom('revocation_list').select('version').executeTakeFirstOrThrow()).version, Number.MAX_SAFE_INTEGER);
    });

    test('the schema refuses an unknown role, a second user of one name, an orphan policy, a second revocation list', async () => {
      const { db } = await backend.open();
      await db.insertInto('users').values(user(1)).execute();
      await assert.rejects(db.insertInto('users').values({ ...user(2), role: 'root' as 'owner' }).execute(), /check constraint/i);
      await assert.rejects(db.insertInto('users').values({ ...user(3), name: 'user-1' }).execute(), /unique|duplicate key/i);
      await assert.rejects(db.insertInto('policies').values({ ...ROWS.policies, agent_did: did(9) }).execute(), /foreign key/i);
      await assert.rejects(db.insertInto('revocation_list').values({ singleton: 2, version: 0 }).execute(), /check constraint/i);
      assert.equal(await userCount(db), 1);
    });

    test('a transaction that throws is rolled back and its error rethrown', async () => {
      const storage = await backend.open();
      const failure = new Error('write failed halfway');
      await assert.rejects(
        storage.transaction(async (trx) => {
          await trx.insertInto('users').values(user(1)).execute();
          await trx.insertInto('users').values(user(2)).execute();
          throw failure;
        }),
        (err) => err === failure,
      );
      assert.equal(await userCount(storage.db), 0);
      assert.equal(await storage.transaction(async (trx) => (await trx.insertInto('users').values(user(3)).execute()).length), 1);
      assert.equal(await userCount(storage.db), 1);
    });

    test('a relaxed transaction commits, with durability relaxed inside it only', async () => {
      const storage = await backend.open({ single: true });
      const durability = async (db: Kysely<BrokerTables>) => (await sql.raw(backend.durability.sql).execute(db)).rows[0];
      for (let i = 1; i <= 3; i++) {
        const inside = await storage.transaction(
          async (trx) => {
            await trx.insertInto('users').values(user(i)).execute();
            return durability(trx);
          },
          { relaxed: true },
        );
        assert.deepEqual(inside, backend.durability.relaxed, `relaxed commit ${i}`);
        assert.deepEqual(await durability(storage.db), backend.durability.durable, `after relaxed commit ${i}`);
      }
      assert.deepEqual(await storage.transaction(durability), backend.durability.durable);
      await assert.rejects(storage.transaction(() => Promise.reject(new Error('no')), { relaxed: true }), /no/);
      assert.deepEqual(await durability(storage.db), backend.durability.durable);
      assert.equal(await userCount(storage.db), 3);
    });

    test('two concurrent transactions never see each other\'s partial writes', async () => {
      const storage = await backend.open();
      let firstWritten!: () => void;
      const halfway = new Promise<void>((resolve) => (firstWritten = resolve));
      const seen: number[] = [];
      const writerRows = async (db: Kysely<BrokerTables>) =>
        (await db.selectFrom('users').where('name', 'in', ['user-1', 'user-2']).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n;
      const writer = storage.transaction(async (trx) => {
        await trx.insertInto('users').values(user(1)).execute();
        firstWritten();
        await sleep(50);
        await trx.insertInto('users').values(user(2)).execute();
        await sleep(50);
      });
      await halfway;
      // Another flow while the writer is halfway: in a transaction of its own, and as single statements.
      const reader = storage.transaction(async (trx) => {
        seen.push(await writerRows(trx));
        await sleep(30);
        seen.push(await writerRows(trx));
        await trx.insertInto('users').values(user(3)).execute();
      });
      seen.push(await writerRows(storage.db));
      await Promise.all([writer, reader]);
      assert.equal(seen.length, 3);
      for (const n of seen) assert.ok(n === 0 || n === 2, `a reader saw ${n} of the writer's 2 rows: ${seen.join(', ')}`);
      assert.equal(await userCount(storage.db), 3);

      // A writer that rolls back: no one ever sees its rows.
      let rollbackWritten!: () => void;
      const rolling = new Promise<void>((resolve) => (rollbackWritten = resolve));
      const doomed = storage.transaction(async (trx) => {
        await trx.insertInto('users').values(user(4)).execute();
        rollbackWritten();
        await sleep(50);
        throw new Error('rolled back');
      });
      await rolling;
      const during = await storage.transaction((trx) => userCount(trx));
      await assert.rejects(doomed, /rolled back/);
      assert.equal(during, 3);
      assert.equal(await userCount(storage.db), 3);
    });

    test('atomic statements hold under concurrent flows: an upsert counts every call, a guarded update lets one win', async () => {
      const { db } = await backend.open();
      for (const table of ['agents', 'intents', 'approvals'] as const) await db.insertInto(table).values(ROWS[table] as never).execute();
      await db.updateTable('approvals').set({ state: 'pending', decided_by: null, decided_at: null }).execute();
      const intentId = ROWS.intents.id;
      await Promise.all(
        Array.from({ length: 10 }, () =>
          db
            .insertInto('intent_resends')
            .values({ intent_id: intentId, count: 1 })
            .onConflict((oc) => oc.column('intent_id').doUpdateSet((eb) => ({ count: eb('intent_resends.count', '+', 1) })))
            .execute(),
        ),
      );
      assert.equal((await db.selectFrom('intent_resends').select('count').executeTakeFirstOrThrow()).count, 10);
      const decisions = await Promise.all(
        ['approved', 'rejected', 'approved'].map((state, i) =>
          db
            .updateTable('approvals')
            .set({ state: state as 'approved', decided_by: did(10 + i), decided_at: i })
            .where('request_id', '=', ROWS.approvals.request_id)
            .where('state', '=', 'pending')
            .returning(['state', 'decided_by'])
            .execute(),
        ),
      );
      const winners = decisions.filter((rows) => rows.length === 1);
      assert.equal(winners.length, 1, JSON.stringify(decisions));
      assert.deepEqual(await db.selectFrom('approvals').select(['state', 'decided_by']).execute(), winners[0]);
    });

    test('a keyset page query on (key, rowid) walks rows of equal keys in insertion order, both ways', async () => {
      const { db } = await backend.open();
      const keys = [5, 3, 5, 1, 3, 5, 2, 5, 1];
      for (const [i, key] of keys.entries()) await db.insertInto('users').values(user(i, key)).execute();
      const walk = async (order: 'newest-first' | 'oldest-first', limit: number): Promise<string[]> => {
        const names: string[] = [];
        let { key, rowid } = keysetBounds(undefined, order);
        for (let page = 0; page < 20; page++) {
          const direction = order === 'newest-first' ? 'desc' : 'asc';
          const rows = await db
            .selectFrom('users')
            .select(['name', 'created_at as page_key', 'rowid as page_rowid'])
            .where((eb) => eb(eb.refTuple('created_at', 'rowid'), order === 'newest-first' ? '<' : '>', eb.tuple(key, rowid)))
            .orderBy('created_at', direction)
            .orderBy('rowid', direction)
            .limit(limit)
            .execute();
          names.push(...rows.map((r) => r.name));
          const last = rows.at(-1);
          if (rows.length < limit || !last) return names;
          ({ page_key: key, page_rowid: rowid } = last);
        }
        throw new Error('more pages than rows');
      };
      const byKey = keys.map((key, i) => ({ key, name: `user-${i}` }));
      const oldest = [...byKey].sort((a, b) => a.key - b.key).map((u) => u.name);
      const newest = [...byKey].reverse().sort((a, b) => b.key - a.key).map((u) => u.name);
      assert.deepEqual(await walk('oldest-first', 2), oldest);
      assert.deepEqual(await walk('newest-first', 2), newest);
      assert.deepEqual(await walk('newest-first', 4), newest);
    });
  });
}
