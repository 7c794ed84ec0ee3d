import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { TokenUsageStore } from '../../../broker/store/token-usage-store';
import { backends } from './sql/support/backends';
import { sendIntents } from './support/sent-intents';
import { did, hexId } from './support/temp-database';

for (const backend of backends()) {
  describe(`TokenUsageStore on ${backend.name}`, () => {
    test("an intent's day counts its largest report: a replayed, reordered or lower report neither lowers nor double-counts it", async () => {
      const storage = await backend.open();
      await sendIntents(storage, [hexId(1)]);
      const usage = new TokenUsageStore(storage);
      await usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 100 });
      await usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 300 });
      await usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 300 });
      await usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 200 });
      assert.equal(await usage.usedOn(did(1), '2025-03-09'), 300);
    });

    test('reports of one intent at once (from any node) keep the largest', async () => {
      const storage = await backend.open();
      await sendIntents(storage, [hexId(1)]);
      const usage = new TokenUsageStore(storage);
      const reports = [7, 900, 3, 512, 899, 1, 64, 900, 250, 42];
      await Promise.all(reports.map((tokens) => usage.report(did(1), hexId(1), { day: '2025-03-09', tokens })));
      assert.equal(await usage.usedOn(did(1), '2025-03-09'), 900);
    });

    test("a day's use is the sum over the agent's intents, that day only, that agent only", async () => {
      const storage = await backend.open();
      await sendIntents(storage, [hexId(1), hexId(2)], did(1));
      await sendIntents(storage, [hexId(3)], did(3));
      const usage = new TokenUsageStore(storage);
      await usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 100 });
      await usage.report(did(1), hexId(2), { day: '2025-03-09', tokens: 20 });
      await usage.report(did(1), hexId(1), { day: '2025-03-10', tokens: 5 });
      await usage.report(did(3), hexId(3), { day: '2025-03-09', tokens: 7 });
      assert.equal(await usage.usedOn(did(1), '2025-03-09'), 120);
      assert.equal(await usage.usedOn(did(1), '2025-03-10'), 5);
      assert.equal(await usage.usedOn(did(3), '2025-03-09'), 7);
      assert.equal(await usage.usedOn(did(1), '2025-03-11'), 0);
      assert.equal(await usage.usedOn(did(9), '2025-03-09'), 0);
    });

    test('reports whose sum passes 2^63 (a compromised agent) read as an exhausted budget, never throw; a report over such a row keeps it', async () => {
      const storage = await backend.open();
      await sendIntents(storage, [hexId(1), hexId(2), hexId(3)]);
      const usage = new TokenUsageStore(storage);
      await usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: Number.MAX_SAFE_INTEGER });
      assert.equal(await usage.usedOn(did(1), '2025-03-09'), Number.MAX_SAFE_INTEGER, 'one report at the largest count the wire allows');
      for (const id of [hexId(2), hexId(3)]) await usage.report(did(1), id, { day: '2025-03-09', tokens: Number.MAX_SAFE_INTEGER });
      assert.equal(await usage.usedOn(did(1), '2025-03-09'), Number.MAX_SAFE_INTEGER, 'three of them: past 2^53, capped');
      // The database holds what a hostile data directory could: values whose integer sum overflows a 64-bit integer.
      await storage.db.updateTable('intent_tokens').set({ tokens: sql<number>`9223372036854775807` }).where('day', '=', '2025-03-09').execute();
      assert.equal(await usage.usedOn(did(1), '2025-03-09'), Number.MAX_SAFE_INTEGER);
      await usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 5 });
      assert.equal(await usage.usedOn(did(1), '2025-03-09'), Number.MAX_SAFE_INTEGER);
    });
  });
}
