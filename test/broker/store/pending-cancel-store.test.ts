import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PendingCancelStore } from '../../../broker/store/pending-cancel-store';
import { BUDGETS } from '../../../core/budgets';
import { backends } from './sql/support/backends';
import { sendIntents } from './support/sent-intents';
import { did, hexId } from './support/temp-database';

const cancel = (n: number, agent = did(1)) => ({ intentId: hexId(n), agent, cancelledBy: did(2) });
const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => hexId(from + i));

for (const backend of backends()) {
  describe(`PendingCancelStore on ${backend.name}`, () => {
    test('cancels are kept until the agent answers, oldest first (ties in the order recorded), and re-sends are counted', async () => {
      const storage = await backend.open();
      await sendIntents(storage, ids(1, 3));
      const cancels = new PendingCancelStore(storage);
      for (const n of [3, 1, 2]) assert.deepEqual(await cancels.record(cancel(n), 10), []);
      assert.deepEqual(await cancels.record(cancel(3), 20), [], 'a second cancel of one intent keeps the first');
      assert.deepEqual((await cancels.forAgent(did(1))).map((c) => c.intentId), [hexId(3), hexId(1), hexId(2)]);
      assert.deepEqual(await cancels.forAgent(did(9)), []);
      assert.deepEqual(await cancels.countResends([hexId(1), hexId(3)]), [1, 1]);
      assert.deepEqual(await cancels.countResends([hexId(1), hexId(9)]), [2, 0], 'an id with no cancel counts 0');
      await cancels.forget(hexId(3));
      assert.deepEqual((await cancels.forAgent(did(1))).map((c) => c.intentId), [hexId(1), hexId(2)]);
    });

    test('an intent whose signed answer came is no longer listed', async () => {
      const storage = await backend.open();
      await sendIntents(storage, ids(1, 2));
      const cancels = new PendingCancelStore(storage);
      await cancels.record(cancel(1), 10);
      await cancels.record(cancel(2), 11);
      await storage.db.updateTable('intents').set({ result_payload: Buffer.from([0]) }).where('id', '=', hexId(1)).execute();
      assert.deepEqual(await cancels.forAgent(did(1)), [cancel(2)]);
    });

    test('at most BUDGETS.pendingCancelsPerAgent are kept per agent: at the bound all stay, at the bound + 1 the oldest goes', async () => {
      const limit = BUDGETS.pendingCancelsPerAgent.limit;
      const storage = await backend.open();
      await sendIntents(storage, ids(1, limit + 2));
      await sendIntents(storage, [hexId(1000)], did(3));
      const cancels = new PendingCancelStore(storage);
      await cancels.record(cancel(1000, did(3)), 1);
      // Equal times: the row order breaks the tie, so the first recorded is the oldest.
      for (let n = 1; n <= limit; n++) assert.deepEqual(await cancels.record(cancel(n), 5), [], `cancel ${n} of ${limit}`);
      assert.equal((await cancels.forAgent(did(1))).length, limit);
      assert.deepEqual(await cancels.record(cancel(limit + 1), 5), [hexId(1)]);
      assert.deepEqual(await cancels.record(cancel(limit + 2), 6), [hexId(2)]);
      const kept = (await cancels.forAgent(did(1))).map((c) => c.intentId);
      assert.deepEqual(kept, ids(3, limit + 2));
      assert.deepEqual(await cancels.forAgent(did(3)), [cancel(1000, did(3))], "another agent's cancels are not its budget");
    });

    test('cancels of one agent recorded at once (pooled connections on PostgreSQL) stay within BUDGETS.pendingCancelsPerAgent', async () => {
      const limit = BUDGETS.pendingCancelsPerAgent.limit;
      const storage = await backend.open();
      const extra = 16;
      await sendIntents(storage, ids(1, limit + extra));
      const cancels = new PendingCancelStore(storage);
      for (let n = 1; n <= limit - 1; n++) await cancels.record(cancel(n), n);
      const dropped = await Promise.all(Array.from({ length: extra + 1 }, (_, i) => new PendingCancelStore(storage).record(cancel(limit + i), 1_000)));
      const kept = await cancels.forAgent(did(1));
      assert.equal(kept.length, limit);
      assert.equal(dropped.flat().length, extra, 'each cancel past the budget dropped exactly one, and told');
      assert.deepEqual(new Set(dropped.flat()), new Set(ids(1, extra)), 'the oldest went');
    });

    test('concurrent re-sends of one cancel each get their own count', async () => {
      const storage = await backend.open();
      await sendIntents(storage, [hexId(1)]);
      await new PendingCancelStore(storage).record(cancel(1), 1);
      const counts = await Promise.all(Array.from({ length: 6 }, () => new PendingCancelStore(storage).countResends([hexId(1)])));
      assert.deepEqual(counts.flat().sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
    });
  });
}
