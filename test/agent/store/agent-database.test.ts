import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { openAgentDatabase } from '../../../agent/store/agent-database';
import { tempDatabasePath } from './support/temp-database';

describe('openAgentDatabase', () => {
  test('creates the schema in WAL mode with synchronous=FULL', () => {
    const db = openAgentDatabase(tempDatabasePath());
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('synchronous', { simple: true }), 2, 'FULL: a commit is on disk when it returns');
      const tables = db
        .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all()
        .map((r) => r.name);
      assert.deepEqual(tables, ['executed_requests', 'result_outbox', 'seen_intents', 'token_usage']);
      assert.equal(db.pragma('user_version', { simple: true }), 7);
    } finally {
      db.close();
    }
  });

  test('reopening an up-to-date database keeps its rows and runs no migration again', () => {
    const path = tempDatabasePath();
    const first = openAgentDatabase(path);
    first.prepare('INSERT INTO seen_intents (id, issued_at) VALUES (?, ?)').run('a'.repeat(32), 1);
    first.close();
    const second = openAgentDatabase(path);
    try {
      assert.equal(second.pragma('user_version', { simple: true }), 7);
      assert.deepEqual(second.prepare('SELECT id, issued_at FROM seen_intents').all(), [{ id: 'a'.repeat(32), issued_at: 1 }]);
    } finally {
      second.close();
    }
  });

  test('refuses a database written by a newer agent instead of guessing its schema', () => {
    const path = tempDatabasePath();
    openAgentDatabase(path).close();
    const raw = new Database(path);
    raw.pragma('user_version = 99');
    raw.close();
    assert.throws(() => openAgentDatabase(path), /schema version 99 is newer than this agent/);
  });
});
