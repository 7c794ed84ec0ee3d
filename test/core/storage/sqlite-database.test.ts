// The one SQLite opener of broker and agent: a database it cannot bring to its schema is closed before the
// error leaves, so the process that reports or retries holds no handle on the file, its -wal or its -shm.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { openSqliteDatabase, type SqliteSchema } from '../../../core/storage/sqlite-database';

const dir = mkdtempSync(join(tmpdir(), 'vaultysclaw-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(dir, `db-${files++}.db`);

const schema = (migrations: string[]): SqliteSchema => ({ migrations, what: 'test database', program: 'tester' });
const GOOD = ['CREATE TABLE a (x INTEGER) STRICT', 'CREATE TABLE b (y TEXT) STRICT'];

/** This process's open file descriptors on `path` or its -wal/-shm/-journal (Linux: /proc/self/fd). */
function handlesOn(path: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(path) ? [target] : [];
    } catch {
      return []; // the fd readdir itself used, gone by now
    }
  });
}

describe('openSqliteDatabase', () => {
  test('migrates to the schema in WAL mode with synchronous=FULL and foreign keys, its file 0600', () => {
    const path = freshPath();
    const db = openSqliteDatabase(path, schema(GOOD));
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('synchronous', { simple: true }), 2);
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(db.pragma('user_version', { simple: true }), GOOD.length);
      assert.equal(statSync(path).mode & 0o777, 0o600);
    } finally {
      db.close();
    }
    assert.deepEqual(handlesOn(path), [], 'control: a closed database leaves no handle');
  });

  test('a migration that fails rolls back every step of this run and leaves the database closed', () => {
    const path = freshPath();
    openSqliteDatabase(path, schema(GOOD.slice(0, 1))).close();
    assert.throws(() => openSqliteDatabase(path, schema([...GOOD, 'CREATE TABLE a (dup INTEGER)'])), /table a already exists/);
    assert.deepEqual(handlesOn(path), [], 'no handle on the database or its WAL files after the failure');
    const raw = new Database(path, { readonly: true });
    try {
      assert.equal(raw.pragma('user_version', { simple: true }), 1, 'still at the version before the failed run');
      assert.deepEqual(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").all(), [], 'migration 2 rolled back with 3');
    } finally {
      raw.close();
    }
  });

  test('a database of a newer schema is refused, naming both versions, and left closed', () => {
    const path = freshPath();
    openSqliteDatabase(path, schema(GOOD)).close();
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    assert.throws(() => openSqliteDatabase(path, schema(GOOD)), /^Error: test database schema version 99 is newer than this tester \(2\); upgrade the tester$/);
    assert.deepEqual(handlesOn(path), []);
  });
});
