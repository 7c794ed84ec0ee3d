// The broker's database on real SQLite files in temp directories: every migration runs once, in order, and
// relaxedWrites relaxes durability only for the commits inside it.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MIGRATIONS, openDatabase, relaxedWrites } from '../../../broker/store/database';
import { removeDirs, tempDir } from '../../support/processes';
import { did, tempBrokerDatabase } from './support/temp-database';

const FULL = 2;
const NORMAL = 1;
const synchronous = (db: ReturnType<typeof openDatabase>): number => db.pragma('synchronous', { simple: true }) as number;

test('a new database has every migration applied, in a file only its owner can read', () => {
  const dir = tempDir('broker-db');
  after(() => removeDirs(dir));
  const path = join(dir, 'broker.db');
  const db = openDatabase(path);
  after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
  for (const table of ['agents', 'policies', 'intents', 'users', 'invitations', 'grants', 'revocation_list', 'approvals', 'intent_tokens', 'intent_resends']) {
    assert.ok(tables.includes(table), table);
  }
  assert.deepEqual(db.prepare('SELECT version FROM revocation_list').all(), [{ version: 0 }]);
});

test('reopening runs no migration twice: rows survive and the seeded revocation list is not seeded again', () => {
  const store = tempBrokerDatabase();
  store.db.prepare('UPDATE revocation_list SET version = 7').run();
  store.db.prepare("INSERT INTO users (did, id_b64, name, role, created_at, last_seen) VALUES (?, 'x', 'alice', 'owner', 1, 1)").run(did(1));
  const db = store.reopen();
  assert.deepEqual(db.prepare('SELECT version FROM revocation_list').all(), [{ version: 7 }]);
  assert.equal((db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n, 1);
});

test('the schema refuses what the broker must never store: an unknown status or role, a second user of one name, an orphan policy', () => {
  const { db } = tempBrokerDatabase();
  const user = db.prepare("INSERT INTO users (did, id_b64, name, role, created_at, last_seen) VALUES (?, 'x', ?, ?, 1, 1)");
  user.run(did(1), 'alice', 'owner');
  assert.throws(() => user.run(did(2), 'bob', 'root'), /CHECK constraint failed/);
  assert.throws(() => user.run(did(3), 'alice', 'viewer'), /UNIQUE constraint failed: users\.name/);
  assert.throws(() => db.prepare("INSERT INTO agents (did, id_b64, name, requested, status, first_seen, last_seen) VALUES (?, 'x', 'a', '[]', 'trusted', 1, 1)").run(did(4)), /CHECK constraint failed/);
  assert.throws(
    () => db.prepare("INSERT INTO policies (agent_did, version, capabilities, approval_required, max_tokens_per_day, max_requests_per_hour, policy_expires_at, updated_at) VALUES (?, 1, '[]', '[]', 0, 0, 0, 0)").run(did(5)),
    /FOREIGN KEY constraint failed/,
  );
});

test('relaxedWrites relaxes to synchronous=NORMAL inside its function only, and restores FULL after, also when it throws', () => {
  const { db } = tempBrokerDatabase();
  const relaxed = relaxedWrites(db);
  assert.equal(synchronous(db), FULL);
  const inside = [1, 2, 3].map(() => relaxed(() => synchronous(db)));
  assert.equal(synchronous(db), FULL);
  // Every call, the first included (a pragma statement prepared once had left the first call at FULL).
  assert.deepEqual(inside, [NORMAL, NORMAL, NORMAL]);
  assert.throws(() => relaxed(() => { throw new Error('write failed'); }), /write failed/);
  assert.equal(synchronous(db), FULL);
});
