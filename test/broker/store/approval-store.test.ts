import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApprovalStore } from '../../../broker/store/approval-store';
import { BUDGETS } from '../../../core/budgets';
import type { ApprovalRequestBody } from '../../../core/wire/approval';
import { envelope, sendIntents } from './support/sent-intents';
import { did, hexId, tempBrokerDatabase } from './support/temp-database';

const request = (n: number, intent: string, at: number, params: Record<string, unknown> = { command: 'make' }): ApprovalRequestBody => ({
  requestId: hexId(100 + n), intentId: intent, agent: did(1), user: did(2), capability: 'run_command', params, cwd: '/work', requestedAt: at, expiresAt: at + 1_000,
});

const decision = (state: 'approved' | 'rejected', decidedAt: number) => ({ state, reviewer: did(5), reason: state === 'rejected' ? 'no' : null, decidedAt, decision: envelope(), countersignature: envelope() });

function approvals() {
  const store = tempBrokerDatabase();
  sendIntents(store.db, [hexId(1), hexId(2)]);
  return { ...store, approvals: new ApprovalStore(store.db) };
}

describe('ApprovalStore (real SQLite file)', () => {
  test('a request is stored pending with its full params, and survives a broker restart', () => {
    const store = approvals();
    const view = store.approvals.add(request(1, hexId(1), 100), envelope());
    assert.equal(view.state, 'pending');
    assert.deepEqual(view.params, { command: 'make' });
    const reread = new ApprovalStore(store.reopen()).get(hexId(101));
    assert.deepEqual(reread, view);
  });

  test('only a pending request can be decided: a second decision, whatever it says, changes nothing', () => {
    const { approvals: store } = approvals();
    store.add(request(1, hexId(1), 100), envelope());
    assert.equal(store.decide(hexId(101), decision('approved', 200)), true);
    assert.equal(store.decide(hexId(101), decision('rejected', 300)), false);
    const view = store.get(hexId(101))!;
    assert.deepEqual([view.state, view.decidedBy, view.decidedAt, view.reason], ['approved', did(5), 200, null]);
    assert.equal(store.decide(hexId(999), decision('approved', 200)), false);
  });

  test('requests past their deadline expire, once; a decided one does not', () => {
    const { approvals: store } = approvals();
    store.add(request(1, hexId(1), 100), envelope());
    store.add(request(2, hexId(1), 100), envelope());
    store.add(request(3, hexId(2), 5_000), envelope());
    store.decide(hexId(102), decision('approved', 150));
    assert.deepEqual(store.expireDue(1_099), []);
    assert.deepEqual(store.expireDue(1_100), [hexId(101)]);
    assert.deepEqual(store.expireDue(1_100), []);
    assert.equal(store.get(hexId(101))!.state, 'expired');
    assert.equal(store.get(hexId(102))!.state, 'approved');
    assert.equal(store.decide(hexId(101), decision('approved', 1_200)), false, 'an expired request cannot be approved late');
  });

  test('an intent that ends cancels its pending requests with why; pendingFor lists only those still pending', () => {
    const { approvals: store } = approvals();
    store.add(request(1, hexId(1), 100), envelope());
    store.add(request(2, hexId(1), 100), envelope());
    store.add(request(3, hexId(2), 100), envelope());
    store.decide(hexId(102), decision('rejected', 150));
    assert.deepEqual(store.pendingFor(hexId(1)), [hexId(101)]);
    assert.equal(store.cancel(hexId(101), 'the intent ended', 160), true);
    assert.equal(store.cancel(hexId(101), 'again', 170), false);
    const cancelled = store.get(hexId(101))!;
    assert.deepEqual([cancelled.state, cancelled.reason, cancelled.decidedAt], ['expired', 'the intent ended', 160]);
    assert.deepEqual(store.pendingFor(hexId(1)), []);
    assert.deepEqual(store.pendingFor(hexId(2)), [hexId(103)]);
  });

  test('lists are newest first, filtered by state, with params summarized (get gives them whole)', () => {
    const { approvals: store } = approvals();
    const long = { content: 'c'.repeat(BUDGETS.summaryTextChars.limit + 1) };
    store.add(request(1, hexId(1), 100), envelope());
    store.add(request(2, hexId(1), 200, long), envelope());
    store.decide(hexId(101), decision('approved', 300));
    const all = store.list(undefined, { limit: 10 });
    assert.deepEqual(all.items.map((a) => a.requestId), [hexId(102), hexId(101)]);
    assert.equal(all.items[0]!.paramsTruncated, true);
    assert.equal((all.items[0]!.params.content as string).length, BUDGETS.summaryTextChars.limit + 1);
    assert.deepEqual(store.get(hexId(102))!.params, long);
    assert.deepEqual(store.list('pending', { limit: 10 }).items.map((a) => a.requestId), [hexId(102)]);
  });

  test('a request for an intent the broker never recorded is refused by the database', () => {
    const { approvals: store } = approvals();
    assert.throws(() => store.add(request(1, hexId(77), 100), envelope()), /FOREIGN KEY/);
  });
});
