// PostgreSQL's schema (POSTGRES_MIGRATIONS) is SQLite's final one (database.ts's MIGRATIONS), as each engine
// describes it: the same tables, columns, types, nullability, defaults, keys, indexes and foreign keys. A migration
// added to one list and not to the other fails here.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PAGED_TABLES } from '../../../../broker/store/sql/tables';
import { postgresServer, postgresStorage, sqliteStorage } from './support/backends';
import { schemaShape } from './support/schema-shape';

const server = postgresServer();

test('PostgreSQL and SQLite have the same tables, columns, nullability, defaults, indexes and foreign keys', async () => {
  const sqlite = await schemaShape(sqliteStorage().storage);
  const postgres = await schemaShape(await postgresStorage(server()));
  assert.equal(Object.keys(sqlite.columns).length, 13);
  // The one column SQLite has without declaring it: PostgreSQL declares it on the tables ordered by (key, rowid).
  for (const table of PAGED_TABLES) {
    assert.equal(postgres.columns[table]?.rowid, 'int8 not null -', table);
    delete postgres.columns[table]!.rowid;
  }
  assert.deepEqual(Object.keys(postgres.columns).sort(), Object.keys(sqlite.columns).sort());
  for (const table of Object.keys(sqlite.columns)) assert.deepEqual(postgres.columns[table], sqlite.columns[table], table);
  assert.deepEqual(postgres.indexes, sqlite.indexes);
  assert.deepEqual(postgres.foreignKeys, sqlite.foreignKeys);
  assert.ok(sqlite.indexes.includes('approvals approvals_pending_by_intent(intent_id) partial'), sqlite.indexes.join('\n'));
  assert.ok(sqlite.indexes.includes('users users_by_name(name) unique'));
  assert.equal(sqlite.foreignKeys.length, 7, sqlite.foreignKeys.join('\n'));
});
