import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntentStore } from '../../../broker/store/intent-store';
import { HOUR_MS } from '../../../core/policy/intent-gates';
import type { ResultBody } from '../../../core/wire/intent';
import { envelope, intentBody, sendIntents } from './support/sent-intents';
import { did, hexId, tempBrokerDatabase } from './support/temp-database';

const result = (id: string, outcome: ResultBody['outcome'], at: number): ResultBody => ({
  intentId: id, agent: did(1), outcome, reason: outcome === 'rejected' ? 'rate-limited' : null, message: outcome, output: outcome === 'succeeded' ? { ok: true } : null, finishedAt: at,
});

describe('IntentStore (real SQLite file)', () => {
  test('sent, running, then one verified result: the result is final, a duplicate is told apart and changes nothing', () => {
    const store = tempBrokerDatabase();
    const intents = sendIntents(store.db, [hexId(1)], did(1), 100);
    assert.equal(intents.get(hexId(1))!.state, 'sent');
    assert.equal(intents.markRunning(hexId(1), 110)!.state, 'running');
    const final = intents.recordResult(result(hexId(1), 'succeeded', 120), envelope(), 120)!;
    assert.deepEqual([final.state, final.outcome, final.output], ['succeeded', 'succeeded', { ok: true }]);
    assert.ok(final.signedResult);
    assert.equal(intents.recordResult(result(hexId(1), 'failed', 130), envelope(), 130), undefined);
    assert.equal(intents.markRunning(hexId(1), 140), undefined, 'a final intent does not run again');
    const reread = new IntentStore(store.reopen(), 200).get(hexId(1))!;
    assert.deepEqual({ ...reread }, { ...final });
  });

  test('an intent whose agent went away is lost; its late verified result is kept, the state stays lost-agent, and only once', () => {
    const { db } = tempBrokerDatabase();
    const intents = sendIntents(db, [hexId(1)], did(1), 100);
    assert.equal(intents.markLost(hexId(1), 'agent gone', 150)!.state, 'lost-agent');
    assert.equal(intents.markLost(hexId(1), 'again', 160), undefined);
    assert.equal(intents.recordResult(result(hexId(1), 'succeeded', 170), envelope(), 170), undefined, 'not as a normal result');
    const late = intents.recordLateResult(result(hexId(1), 'succeeded', 170), envelope(), 170)!;
    assert.deepEqual([late.state, late.outcome, late.message], ['lost-agent', 'succeeded', 'succeeded']);
    assert.ok(late.signedResult);
    assert.equal(intents.recordLateResult(result(hexId(1), 'failed', 180), envelope(), 180), undefined);
    assert.equal(intents.get(hexId(1))!.outcome, 'succeeded');
  });

  test('an intent refused by the broker is final at once, rejected by the broker, and not in flight', () => {
    const { db } = tempBrokerDatabase();
    const intents = sendIntents(db, [], did(1), 100);
    const refused = intents.recordRefused(intentBody(hexId(1), did(1), 100), 'capability-not-granted', 'no', 100);
    assert.deepEqual([refused.state, refused.rejectedBy, refused.reason, refused.signedIntent], ['rejected', 'broker', 'capability-not-granted', null]);
    assert.deepEqual(intents.get(hexId(1))!.state, 'rejected');
    assert.deepEqual(intents.inFlight(did(1)), []);
    assert.equal(intents.sentSince(did(1), 0), 0, 'a refused intent was never sent');
  });

  test('in flight: sent and running intents, per agent, found again after a restart', () => {
    const store = tempBrokerDatabase();
    const intents = sendIntents(store.db, [hexId(1), hexId(2), hexId(3)], did(1), 100);
    sendIntents(store.db, [hexId(4)], did(3), 100);
    intents.markRunning(hexId(2), 110);
    intents.recordResult(result(hexId(3), 'failed', 120), envelope(), 120);
    const reread = new IntentStore(store.reopen(), 200);
    assert.deepEqual(reread.inFlight(did(1)).map((i) => [i.id, i.state]).sort(), [[hexId(1), 'sent'], [hexId(2), 'running']]);
    assert.deepEqual(reread.agentsWithIntentsInFlight().sort(), [did(1), did(3)]);
  });

  test("the hourly rate counts intents sent in the last hour, drops those the agent refused, and is rebuilt at start", () => {
    const store = tempBrokerDatabase();
    const t0 = 10 * HOUR_MS;
    const intents = sendIntents(store.db, [hexId(1), hexId(2), hexId(3)], did(1), t0);
    intents.recordResult(result(hexId(3), 'rejected', t0 + 1), envelope(), t0 + 1);
    intents.recordResult(result(hexId(2), 'succeeded', t0 + 1), envelope(), t0 + 1);
    assert.equal(intents.sentSince(did(1), t0 - HOUR_MS), 2);
    assert.equal(intents.sentSince(did(3), t0 - HOUR_MS), 0);
    const reread = new IntentStore(store.reopen(), t0 + HOUR_MS - 1);
    assert.equal(reread.sentSince(did(1), t0 - 1), 2, 'still within the hour after a restart');
    assert.equal(new IntentStore(store.db, t0 + HOUR_MS).sentSince(did(1), t0 - 1), 0, 'a process started an hour later counts none');
  });

  test('lists are newest first, all intents or one agent’s, as summaries without output or envelopes', () => {
    const { db } = tempBrokerDatabase();
    const intents = sendIntents(db, [], did(1), 100);
    sendIntents(db, [], did(3), 100);
    intents.recordSent(intentBody(hexId(1), did(1), 100), envelope(), 100);
    intents.recordSent(intentBody(hexId(2), did(3), 200), envelope(), 200);
    intents.recordSent(intentBody(hexId(3), did(1), 300), envelope(), 300);
    const all = intents.list({}, { limit: 10 });
    assert.deepEqual(all.items.map((i) => i.id), [hexId(3), hexId(2), hexId(1)]);
    assert.equal('signedIntent' in all.items[0]!, false);
    assert.deepEqual(intents.list({ agent: did(1) }, { limit: 10 }).items.map((i) => i.id), [hexId(3), hexId(1)]);
  });

  test('a detail of a small intent is whole, with nothing omitted; an unknown id has none', () => {
    const { db } = tempBrokerDatabase();
    const intents = sendIntents(db, [hexId(1)], did(1), 100);
    intents.recordResult(result(hexId(1), 'succeeded', 120), envelope(), 120);
    const detail = intents.detail(hexId(1))!;
    assert.deepEqual(detail.omitted, []);
    assert.deepEqual(detail.output, { ok: true });
    assert.ok(detail.signedIntent && detail.signedResult);
    assert.equal(intents.detail(hexId(9)), undefined);
  });
});
