import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TokenUsageStore } from '../../../broker/store/token-usage-store';
import { sendIntents } from './support/sent-intents';
import { did, hexId, tempBrokerDatabase } from './support/temp-database';

describe('TokenUsageStore (real SQLite file)', () => {
  test("an intent's day counts its largest report: a replayed, reordered or lower report neither lowers nor double-counts it", () => {
    const { db } = tempBrokerDatabase();
    sendIntents(db, [hexId(1)]);
    const usage = new TokenUsageStore(db);
    usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 100 });
    usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 300 });
    usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 300 });
    usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 200 });
    assert.equal(usage.usedOn(did(1), '2025-03-09'), 300);
  });

  test("a day's use is the sum over the agent's intents, that day only, that agent only", () => {
    const { db } = tempBrokerDatabase();
    sendIntents(db, [hexId(1), hexId(2)], did(1));
    sendIntents(db, [hexId(3)], did(3));
    const usage = new TokenUsageStore(db);
    usage.report(did(1), hexId(1), { day: '2025-03-09', tokens: 100 });
    usage.report(did(1), hexId(2), { day: '2025-03-09', tokens: 20 });
    usage.report(did(1), hexId(1), { day: '2025-03-10', tokens: 5 });
    usage.report(did(3), hexId(3), { day: '2025-03-09', tokens: 7 });
    assert.equal(usage.usedOn(did(1), '2025-03-09'), 120);
    assert.equal(usage.usedOn(did(1), '2025-03-10'), 5);
    assert.equal(usage.usedOn(did(3), '2025-03-09'), 7);
    assert.equal(usage.usedOn(did(1), '2025-03-11'), 0);
    assert.equal(usage.usedOn(did(9), '2025-03-09'), 0);
  });

  test('reports whose sum passes 2^63 (a compromised agent) read as an exhausted budget, never throw', () => {
    const { db } = tempBrokerDatabase();
    sendIntents(db, [hexId(1), hexId(2), hexId(3)]);
    const usage = new TokenUsageStore(db);
    for (const id of [hexId(1), hexId(2), hexId(3)]) usage.report(did(1), id, { day: '2025-03-09', tokens: Number.MAX_SAFE_INTEGER });
    // The database holds what a hostile data directory could: values whose integer sum overflows.
    db.prepare("UPDATE intent_tokens SET tokens = 9223372036854775807 WHERE day = '2025-03-09'").run();
    assert.equal(usage.usedOn(did(1), '2025-03-09'), Number.MAX_SAFE_INTEGER);
  });
});
