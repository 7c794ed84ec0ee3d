// Issue 18: the broker keeps which model dispatched an intent (`via`) in a column of its own. A database from before
// upgrades with every intent kept (a person dispatched each, as far as anyone knew); from then on `via` is recorded,
// read back after a restart, and shown in a view, a list's summary and a detail alike.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MIGRATIONS, openDatabase } from '../../../broker/store/database';
import { IntentStore } from '../../../broker/store/intent-store';
import { openSqliteStorage } from '../../../broker/store/sql/sqlite-storage';
import { removeDirs, tempDir } from '../../support/processes';
import { envelope, intentBody } from './support/sent-intents';
import { did, hexId } from './support/temp-database';

const dir = tempDir('via-migration');
after(() => removeDirs(dir));

test('a database from before via upgrades with its intents kept (no via); a model-dispatched intent recorded after keeps via across a restart, in view, summary and detail', async () => {
  const path = join(dir, 'broker.db');
  const before = MIGRATIONS.findIndex((m) => m.includes('ADD COLUMN via'));
  assert.ok(before > 0, 'the via migration exists');
  const old = new Database(path);
  for (const migration of MIGRATIONS.slice(0, before)) old.exec(migration);
  old.pragma(`user_version = ${before}`);
  old.prepare("INSERT INTO agents (did, id_b64, name, requested, status, first_seen, last_seen) VALUES (?, 'AA==', 'old', '[]', 'approved', 1, 1)").run(did(1));
  old.prepare(
    "INSERT INTO intents (id, agent_did, capability, params, user_did, state, outcome, message, created_at, updated_at) VALUES (?, ?, 'read_file', '{\"path\":\"a\"}', ?, 'succeeded', 'succeeded', 'done', 5, 6)",
  ).run(hexId(1), did(1), did(2));
  old.close();

  let db = openDatabase(path);
  let storage = openSqliteStorage(db);
  let intents = await IntentStore.open(storage, 10);
  const kept = (await intents.get(hexId(1)))!;
  assert.deepEqual([kept.state, kept.message, 'via' in kept], ['succeeded', 'done', false]);

  const sent = await intents.recordSent(intentBody(hexId(2), did(1), 20), envelope(), 20, 'mcp:Cursor');
  const refused = await intents.recordRefused(intentBody(hexId(3), did(1), 30), 'bad-params', 'no', 30, 'vscode-lm');
  const person = await intents.recordSent(intentBody(hexId(4), did(1), 40), envelope(), 40);
  assert.deepEqual([sent.via, refused.via, 'via' in person], ['mcp:Cursor', 'vscode-lm', false]);
  await storage.close();
  db.close();

  db = openDatabase(path);
  storage = openSqliteStorage(db);
  try {
    intents = await IntentStore.open(storage, 50);
    assert.equal((await intents.get(hexId(2)))!.via, 'mcp:Cursor');
    assert.equal((await intents.get(hexId(3)))!.via, 'vscode-lm');
    assert.equal('via' in (await intents.get(hexId(4)))!, false);
    assert.equal((await intents.detail(hexId(2)))!.via, 'mcp:Cursor');
    const listed = new Map((await intents.list({}, { limit: 10 })).items.map((i) => [i.id, i]));
    assert.deepEqual([listed.get(hexId(1))?.via, listed.get(hexId(2))?.via, listed.get(hexId(3))?.via, listed.get(hexId(4))?.via], [undefined, 'mcp:Cursor', 'vscode-lm', undefined]);
  } finally {
    await storage.close();
    db.close();
  }
});
