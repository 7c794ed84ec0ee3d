import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntentResendStore } from '../../../broker/store/intent-resend-store';
import { sendIntents } from './support/sent-intents';
import { hexId, tempBrokerDatabase } from './support/temp-database';

describe('IntentResendStore (real SQLite file)', () => {
  test('counts each intent separately, this resend included, in the order asked', () => {
    const { db } = tempBrokerDatabase();
    sendIntents(db, [hexId(1), hexId(2)]);
    const resends = new IntentResendStore(db);
    assert.deepEqual(resends.count([hexId(1)]), [1]);
    assert.deepEqual(resends.count([hexId(2), hexId(1)]), [1, 2]);
    assert.deepEqual(resends.count([]), []);
  });

  test('the counts survive a broker restart: the loop they bound outlives the process', () => {
    const store = tempBrokerDatabase();
    sendIntents(store.db, [hexId(1)]);
    new IntentResendStore(store.db).count([hexId(1)]);
    new IntentResendStore(store.db).count([hexId(1)]);
    const reopened = store.reopen();
    assert.deepEqual(new IntentResendStore(reopened).count([hexId(1)]), [3]);
  });

  test('an id that is no intent is refused whole: no count is written for the others of the same call', () => {
    const { db } = tempBrokerDatabase();
    sendIntents(db, [hexId(1)]);
    const resends = new IntentResendStore(db);
    assert.throws(() => resends.count([hexId(1), hexId(9)]), /FOREIGN KEY/);
    assert.deepEqual(resends.count([hexId(1)]), [1]);
  });
});
