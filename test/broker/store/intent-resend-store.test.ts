import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntentResendStore } from '../../../broker/store/intent-resend-store';
import { backends } from './sql/support/backends';
import { sendIntents } from './support/sent-intents';
import { hexId } from './support/temp-database';

for (const backend of backends()) {
  describe(`IntentResendStore on ${backend.name}`, () => {
    test('counts each intent separately, this resend included, in the order asked', async () => {
      const storage = await backend.open();
      await sendIntents(storage, [hexId(1), hexId(2)]);
      const resends = new IntentResendStore(storage);
      assert.deepEqual(await resends.count([hexId(1)]), [1]);
      assert.deepEqual(await resends.count([hexId(2), hexId(1)]), [1, 2]);
      assert.deepEqual(await resends.count([]), []);
    });

    test('the counts are kept in the database: a restarted broker (a new store) counts on', async () => {
      const storage = await backend.open();
      await sendIntents(storage, [hexId(1)]);
      await new IntentResendStore(storage).count([hexId(1)]);
      await new IntentResendStore(storage).count([hexId(1)]);
      assert.deepEqual(await new IntentResendStore(storage).count([hexId(1)]), [3]);
    });

    test('an id that is no intent is refused whole: no count is written for the others of the same call', async () => {
      const storage = await backend.open();
      await sendIntents(storage, [hexId(1)]);
      const resends = new IntentResendStore(storage);
      await assert.rejects(resends.count([hexId(1), hexId(9)]), /foreign key/i);
      assert.deepEqual(await resends.count([hexId(1)]), [1]);
    });

    test('concurrent resends of one intent (two brokers, pooled connections on PostgreSQL) each get their own count', async () => {
      const storage = await backend.open();
      await sendIntents(storage, [hexId(1)]);
      const counts = await Promise.all(Array.from({ length: 8 }, () => new IntentResendStore(storage).count([hexId(1)])));
      assert.deepEqual(counts.flat().sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);
    });
  });
}
