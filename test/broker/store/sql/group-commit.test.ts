// The group commit of intent writes on SQLite (GroupCommit through IntentStore, on a real broker.db): writes asked
// for together share one transaction, within BUDGETS.writesPerGroupCommit and BUDGETS.groupCommitTurns; no caller is
// answered before the commit; a failed group (a statement's storage failure, or its COMMIT) fails each of its
// callers with that error; a bad row fails only its own caller.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUDGETS } from '../../../../core/budgets';
import { storageFailure } from '../../../../core/storage/storage-failure';
import { HOUR_MS } from '../../../../core/policy/intent-gates';
import type { ResultBody } from '../../../../core/wire/intent';
import type { StorageOp } from '../../../../broker/store/storage-timing';
import { sqliteStorage } from './support/backends';
import { envelope, intentBody, sendIntents } from '../support/sent-intents';
import { did, hexId } from '../support/temp-database';

/** Counts the transactions the storage commits or rolls back from now on (the metrics' timing listener). */
function countTransactions(storage: { onTiming(listener: (op: StorageOp) => void): () => void }): { readonly count: number } {
  const counter = { count: 0 };
  storage.onTiming((op) => {
    if (op === 'transaction') counter.count++;
  });
  return counter;
}

const result = (id: string): ResultBody => ({ intentId: id, agent: did(1), outcome: 'succeeded', reason: null, message: 'done', output: { ok: true }, finishedAt: 20 });
const ids = (from: number, n: number) => Array.from({ length: n }, (_, i) => hexId(from + i));

test('BUDGETS.writesPerGroupCommit intents sent at once commit in one transaction; one more makes a second', async () => {
  const { storage } = sqliteStorage();
  const intents = await sendIntents(storage, [], did(1), 10);
  const limit = BUDGETS.writesPerGroupCommit.limit;
  const transactions = countTransactions(storage);
  const atBound = await Promise.all(ids(1, limit).map((id) => intents.recordSent(intentBody(id, did(1), 10), envelope(), 10)));
  assert.equal(atBound.length, limit);
  assert.equal(transactions.count, 1, `at the bound: ${limit} writes, one commit`);
  await Promise.all(ids(1000, limit + 1).map((id) => intents.recordSent(intentBody(id, did(1), 10), envelope(), 10)));
  assert.equal(transactions.count, 3, 'at the bound + 1: two commits more');
  const { n } = await storage.db.selectFrom('intents').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(n), 2 * limit + 1, 'every row written');
});

test('while writes keep arriving a group gathers for BUDGETS.groupCommitTurns turns of the event loop, then commits; an idle one commits at the next turn', async () => {
  const { storage } = sqliteStorage();
  const intents = await sendIntents(storage, [], did(1), 10);
  const turns = BUDGETS.groupCommitTurns.limit;
  let next = 0;
  // One write per turn, each turn's before the group looks again (setImmediate runs callbacks in the order asked).
  const oneWritePerTurn = (n: number) =>
    new Promise<unknown[]>((resolve) => {
      const written: Promise<unknown>[] = [];
      const turn = () => {
        if (written.length + 1 < n) setImmediate(turn);
        written.push(intents.recordSent(intentBody(hexId(++next), did(1), 10), envelope(), 10));
        if (written.length === n) resolve(Promise.all(written));
      };
      setImmediate(turn);
    });
  const transactions = countTransactions(storage);
  await oneWritePerTurn(turns + 1);
  assert.equal(transactions.count, 1, `at the bound: the first write waits ${turns} turns, the writes of ${turns + 1} turns share its commit`);
  await oneWritePerTurn(turns + 2);
  assert.equal(transactions.count, 3, 'at the bound + 1: the first group commits without the last write');
  // Idle: the write of a lone dispatch is committed by the next turn, not held for company.
  let turnsWaited = 0;
  let committed = false;
  const counting = () => {
    if (committed) return;
    turnsWaited++;
    setImmediate(counting);
  };
  setImmediate(counting);
  await intents.recordSent(intentBody(hexId(++next), did(1), 10), envelope(), 10);
  committed = true;
  assert.ok(turnsWaited <= 1, `an idle write waited ${turnsWaited} turns`);
});

test('dispatches, progress and results of one turn share one commit; each caller gets its own answer', async () => {
  const { storage } = sqliteStorage();
  const intents = await sendIntents(storage, ids(1, 8), did(1), 10);
  const transactions = countTransactions(storage);
  const [sent, running, final, duplicate] = await Promise.all([
    Promise.all(ids(100, 8).map((id) => intents.recordSentWithin(intentBody(id, did(1), 11), envelope(), 11, undefined, { since: 11 - HOUR_MS, max: 100 }))),
    Promise.all(ids(1, 4).map((id) => intents.markRunning(id, 12))),
    Promise.all(ids(1, 8).map((id) => intents.recordResult(result(id), envelope(), 13))),
    intents.recordResult(result(hexId(1)), envelope(), 14),
  ]);
  assert.equal(transactions.count, 1);
  assert.deepEqual(sent.map((v) => v?.state), Array(8).fill('sent'));
  assert.deepEqual(running.map((v) => v?.state), Array(4).fill('running'));
  assert.deepEqual(final.map((v) => v?.state), Array(8).fill('succeeded'));
  assert.equal(duplicate, undefined, 'the second result of one intent, in the same group, changes nothing');
  assert.equal(await intents.sentSince(did(1), 11 - HOUR_MS), 16);
});

test('a group whose COMMIT fails fails every caller with its error: none was answered before it', async () => {
  const { storage, handle } = sqliteStorage();
  const intents = await sendIntents(storage, [], did(1), 10);
  // Foreign keys checked at COMMIT for the next transaction (SQLite clears the pragma when it ends): the row of an
  // agent never registered passes its INSERT and fails the COMMIT, after every statement of the group succeeded.
  handle.pragma('defer_foreign_keys = ON');
  const agents = [did(1), did(1), did(7), did(1)];
  const outcomes = await Promise.allSettled(agents.map((agent, i) => intents.recordSent(intentBody(hexId(i + 1), agent, 10), envelope(), 10)));
  assert.deepEqual(outcomes.map((o) => o.status), Array(4).fill('rejected'));
  for (const outcome of outcomes) assert.equal(((outcome as PromiseRejectedResult).reason as { code: string }).code, 'SQLITE_CONSTRAINT_FOREIGNKEY');
  assert.equal(handle.inTransaction, false, 'rolled back');
  assert.deepEqual(await storage.db.selectFrom('intents').select('id').execute(), []);
  assert.equal((await intents.recordSent(intentBody(hexId(9), did(1), 10), envelope(), 10)).state, 'sent', 'the next group commits');
});

test('a group the disk cannot hold fails every caller with the storage error, writes none of it, and frees their hourly slots', async () => {
  const { storage, handle } = sqliteStorage();
  const intents = await sendIntents(storage, [], did(1), 10);
  // Room for about two of the eight 64 KiB rows: each written alone, the first ones would be stored.
  const pages = handle.pragma('page_count', { simple: true }) as number;
  handle.pragma(`max_page_count = ${pages + 40}`);
  const big = { content: 'x'.repeat(64 * 1024) };
  const hourly = { since: 10 - HOUR_MS, max: 100 };
  const transactions = countTransactions(storage);
  const outcomes = await Promise.allSettled(ids(1, 8).map((id) => intents.recordSentWithin(intentBody(id, did(1), 10, big), envelope(), 10, undefined, hourly)));
  assert.equal(transactions.count, 1, 'one group');
  for (const outcome of outcomes) {
    assert.equal(outcome.status, 'rejected');
    assert.equal(storageFailure(outcome.reason), 'the disk is full (SQLITE_FULL)');
  }
  assert.equal(new Set(outcomes.map((o) => (o as PromiseRejectedResult).reason)).size, 1, 'the same error for every caller');
  assert.equal(handle.inTransaction, false);
  assert.deepEqual(await storage.db.selectFrom('intents').select('id').execute(), [], 'nothing of the group kept');
  assert.equal(await intents.sentSince(did(1), hourly.since), 0, 'no slot held for a row never written');
  handle.pragma('max_page_count = 1073741823');
  assert.equal((await intents.recordSentWithin(intentBody(hexId(99), did(1), 10, big), envelope(), 10, undefined, hourly))?.state, 'sent');
});

test('a bad row fails only its own caller: the rest of its group is committed', async () => {
  const { storage } = sqliteStorage();
  const intents = await sendIntents(storage, [hexId(5)], did(1), 10);
  const transactions = countTransactions(storage);
  // hexId(5) is already stored: its insert breaks the primary key, in the middle of the group.
  const outcomes = await Promise.allSettled(ids(1, 9).map((id) => intents.recordSent(intentBody(id, did(1), 10), envelope(), 10)));
  assert.equal(transactions.count, 1);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ids(1, 9).map((id) => (id === hexId(5) ? 'rejected' : 'fulfilled')),
  );
  const failed = outcomes[4] as PromiseRejectedResult;
  assert.match((failed.reason as { code: string }).code, /^SQLITE_CONSTRAINT/);
  const stored = await storage.db.selectFrom('intents').select('id').orderBy('id').execute();
  assert.deepEqual(stored.map((r) => r.id), ids(1, 9));
});

test('writes still gathering when the broker closes are committed before its storage closes (settled)', async () => {
  const { storage, handle } = sqliteStorage();
  const intents = await sendIntents(storage, [], did(1), 10);
  const writes = Promise.allSettled(ids(1, 3).map((id) => intents.recordSent(intentBody(id, did(1), 10), envelope(), 10)));
  await intents.settled();
  await storage.close();
  assert.deepEqual((await writes).map((o) => o.status), Array(3).fill('fulfilled'));
  assert.deepEqual(handle.prepare('SELECT count(*) AS n FROM intents').get(), { n: 3 });
  await intents.settled();
});
