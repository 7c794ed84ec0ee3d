// Brokers from before issue 13 renamed a user at every login, so a database may hold two users under one
// name. The migration that makes names unique keeps the first holder's name, gives the others their DID's
// head beside it, and only then adds the unique index: an upgrade never fails on old data.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MIGRATIONS, openDatabase } from '../../../broker/store/database';
import { removeDirs, tempDir } from '../../support/processes';

const dir = tempDir('names-migration');
after(() => removeDirs(dir));

test('a database with duplicate user names from before upgrades: the first keeps the name, the others are told apart, names are unique after', () => {
  const path = join(dir, 'broker.db');
  // The schema as it was just before the migrations of issue 13 that made names unique, with the duplicates a
  // rename at login allowed; every migration from there on (those of later changes too) runs at the upgrade.
  const before = MIGRATIONS.findIndex((m) => m.includes('role_set_by'));
  assert.ok(before > 0, 'the role_set_by migration exists');
  const old = new Database(path);
  for (const migration of MIGRATIONS.slice(0, before)) old.exec(migration);
  old.pragma(`user_version = ${before}`);
  const add = old.prepare("INSERT INTO users (did, id_b64, name, role, invited_by, created_at, last_seen) VALUES (?, 'x', ?, 'viewer', NULL, ?, 0)");
  add.run(`did:vaultys:01${'aa'.repeat(19)}`, 'alice', 1);
  add.run(`did:vaultys:01${'bb'.repeat(19)}`, 'alice', 2);
  add.run(`did:vaultys:01${'cc'.repeat(19)}`, 'bob', 3);
  old.close();

  const upgraded = openDatabase(path);
  try {
    assert.deepEqual(upgraded.prepare('SELECT name, role_set_by AS roleSetBy FROM users ORDER BY created_at').all(), [
      { name: 'alice', roleSetBy: null },
      { name: 'alice (01BB BBBB)', roleSetBy: null },
      { name: 'bob', roleSetBy: null },
    ]);
    assert.throws(
      () => upgraded.prepare("INSERT INTO users (did, id_b64, name, role, created_at, last_seen) VALUES ('did:vaultys:01dd', 'x', 'bob', 'viewer', 4, 0)").run(),
      /UNIQUE constraint failed: users\.name/,
    );
  } finally {
    upgraded.close();
  }
});
