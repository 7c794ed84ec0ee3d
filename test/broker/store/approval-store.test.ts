import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ApprovalStore, type ReviewerDecision } from '../../../broker/store/approval-store';
import { MIGRATIONS, openDatabase } from '../../../broker/store/database';
import { removeDirs, tempDir } from '../../support/processes';
import { BUDGETS } from '../../../core/budgets';
import type { ApprovalRequestBody } from '../../../core/wire/approval';
import { envelope, sendIntents } from './support/sent-intents';
import { did, hexId, tempBrokerDatabase } from './support/temp-database';

const request = (n: number, intent: string, at: number, params: Record<string, unknown> = { command: 'make' }): ApprovalRequestBody => ({
  requestId: hexId(100 + n), intentId: intent, agent: did(1), user: did(2), capability: 'run_command', params, cwd: '/work', requestedAt: at, expiresAt: at + 1_000,
});

const decision = (state: 'approved' | 'rejected', decidedAt: number, reviewer = did(5)): ReviewerDecision => ({
  reviewer, decision: state === 'approved' ? 'approve' : 'reject', reason: state === 'rejected' ? 'no' : null, selfReview: false, decidedAt, envelope: envelope(), countersignature: envelope(),
});
const decided = (outcome: ReturnType<ApprovalStore['decide']>) => (outcome.ok ? outcome.view.state : outcome.why);

function approvals() {
  const store = tempBrokerDatabase();
  sendIntents(store.db, [hexId(1), hexId(2)]);
  return { ...store, approvals: new ApprovalStore(store.db) };
}

describe('ApprovalStore (real SQLite file)', () => {
  test('a request is stored pending with its full params, and survives a broker restart', () => {
    const store = approvals();
    const view = store.approvals.add(request(1, hexId(1), 100), envelope(), false);
    assert.equal(view.state, 'pending');
    assert.deepEqual(view.params, { command: 'make' });
    const reread = new ApprovalStore(store.reopen()).get(hexId(101));
    assert.deepEqual(reread, view);
  });

  test('only a pending request can be decided: a second decision, whatever it says, changes nothing', () => {
    const { approvals: store } = approvals();
    store.add(request(1, hexId(1), 100), envelope(), false);
    assert.equal(decided(store.decide(hexId(101), decision('approved', 200))), 'approved');
    assert.equal(decided(store.decide(hexId(101), decision('rejected', 300, did(6)))), 'not-pending');
    const view = store.get(hexId(101))!;
    assert.deepEqual([view.state, view.decidedBy, view.decidedAt, view.reason], ['approved', did(5), 200, null]);
    assert.equal(decided(store.decide(hexId(999), decision('approved', 200))), 'not-pending');
  });

  test('requests past their deadline expire, once; a decided one does not', () => {
    const { approvals: store } = approvals();
    store.add(request(1, hexId(1), 100), envelope(), false);
    store.add(request(2, hexId(1), 100), envelope(), false);
    store.add(request(3, hexId(2), 5_000), envelope(), false);
    store.decide(hexId(102), decision('approved', 150));
    assert.deepEqual(store.expireDue(1_099), []);
    assert.deepEqual(store.expireDue(1_100), [hexId(101)]);
    assert.deepEqual(store.expireDue(1_100), []);
    assert.equal(store.get(hexId(101))!.state, 'expired');
    assert.equal(store.get(hexId(102))!.state, 'approved');
    assert.equal(decided(store.decide(hexId(101), decision('approved', 1_200))), 'not-pending', 'an expired request cannot be approved late');
  });

  test('an intent that ends cancels its pending requests with why; pendingFor lists only those still pending', () => {
    const { approvals: store } = approvals();
    store.add(request(1, hexId(1), 100), envelope(), false);
    store.add(request(2, hexId(1), 100), envelope(), false);
    store.add(request(3, hexId(2), 100), envelope(), false);
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
    store.add(request(1, hexId(1), 100), envelope(), false);
    store.add(request(2, hexId(1), 200, long), envelope(), false);
    store.decide(hexId(101), decision('approved', 300));
    const all = store.list(undefined, { limit: 10 });
    assert.deepEqual(all.items.map((a) => a.requestId), [hexId(102), hexId(101)]);
    assert.equal(all.items[0]!.paramsTruncated, true);
    assert.equal((all.items[0]!.params.content as string).length, BUDGETS.summaryTextChars.limit + 1);
    assert.deepEqual(store.get(hexId(102))!.params, long);
    assert.deepEqual(store.list('pending', { limit: 10 }).items.map((a) => a.requestId), [hexId(102)]);
  });

  test('a request for two reviewers stays pending after the first approval, ends approved at the second, and lists both in order', () => {
    const store = approvals();
    store.approvals.add({ ...request(1, hexId(1), 100), reviewers: 2, selfReview: true, rule: 'run_command rule 0: ask ["make","*"]' }, envelope(), true);
    const first = store.approvals.decide(hexId(101), { ...decision('approved', 150, did(2)), selfReview: true });
    assert.ok(first.ok);
    assert.deepEqual([first.view.state, first.view.reviewersRequired, first.view.approvals, first.view.decidedBy], ['pending', 2, [{ reviewer: did(2), decidedAt: 150, selfReview: true }], null]);
    assert.equal(decided(store.approvals.decide(hexId(101), decision('approved', 160, did(2)))), 'same-reviewer', 'the same reviewer twice adds nothing');
    assert.equal(store.approvals.get(hexId(101))!.approvals.length, 1);
    const second = store.approvals.decide(hexId(101), decision('approved', 170, did(5)));
    assert.ok(second.ok);
    assert.deepEqual([second.view.state, second.view.decidedBy, second.view.approvals.map((a) => a.reviewer)], ['approved', did(5), [did(2), did(5)]]);
    const restarted = new ApprovalStore(store.reopen());
    const reread = restarted.get(hexId(101))!;
    assert.deepEqual([reread.reviewers, reread.selfReview, reread.rule, reread.modelCall], [2, true, 'run_command rule 0: ask ["make","*"]', true]);
    assert.deepEqual(restarted.list('approved', { limit: 10 }).items[0]!.approvals, second.view.approvals, 'lists carry the approvals too');
  });

  test('any one rejection ends a request for several reviewers, whatever approvals it had', () => {
    const { approvals: store } = approvals();
    store.add({ ...request(1, hexId(1), 100), reviewers: 3 }, envelope(), false);
    assert.equal(decided(store.decide(hexId(101), decision('approved', 150, did(5)))), 'pending');
    assert.equal(decided(store.decide(hexId(101), decision('rejected', 160, did(6)))), 'rejected');
    assert.equal(decided(store.decide(hexId(101), decision('approved', 170, did(7)))), 'not-pending');
    const view = store.get(hexId(101))!;
    assert.deepEqual([view.state, view.decidedBy, view.reason, view.approvals.length], ['rejected', did(6), 'no', 1]);
  });

  test('a request for an intent the broker never recorded is refused by the database', () => {
    const { approvals: store } = approvals();
    assert.throws(() => store.add(request(1, hexId(77), 100), envelope(), false), /FOREIGN KEY/);
  });
});

test('requests stored before the quorum upgrade need one reviewer, and keep the decision they had as their approval', () => {
  const dir = tempDir('approvals-migration');
  after(() => removeDirs(dir));
  const path = join(dir, 'broker.db');
  const before = MIGRATIONS.findIndex((m) => m.includes('approval_decisions'));
  assert.ok(before > 0, 'the approval_decisions migration exists');
  // Rows as a broker before the upgrade wrote them: one request decided, one pending.
  const old = new Database(path);
  for (const migration of MIGRATIONS.slice(0, before)) old.exec(migration);
  old.pragma(`user_version = ${before}`);
  old.prepare("INSERT INTO agents (did, id_b64, name, requested, status, first_seen, last_seen) VALUES (?, 'x', 'old', '[]', 'approved', 1, 1)").run(did(1));
  old.prepare("INSERT INTO intents (id, agent_did, capability, params, user_did, state, created_at, updated_at) VALUES (?, ?, 'run_command', '{}', ?, 'sent', 1, 1)").run(hexId(1), did(1), did(2));
  const insert = old.prepare(
    `INSERT INTO approvals (request_id, intent_id, agent_did, user_did, capability, params, cwd, requested_at, expires_at, state, decided_by, decided_at,
       request_payload, request_signature, decision_payload, decision_signature, countersign_payload, countersign_signature)
     VALUES (?, ?, ?, ?, 'run_command', '{"command":"make"}', '/w', 100, 1100, ?, ?, ?, x'00', x'00', ?, ?, ?, ?)`,
  );
  insert.run(hexId(101), hexId(1), did(1), did(2), 'approved', did(5), 150, Buffer.from('d'), Buffer.from('s'), Buffer.from('c'), Buffer.from('t'));
  insert.run(hexId(102), hexId(1), did(1), did(2), 'pending', null, null, null, null, null, null);
  old.close();

  const upgraded = openDatabase(path);
  try {
    const store = new ApprovalStore(upgraded);
    const decidedBefore = store.get(hexId(101))!;
    assert.deepEqual([decidedBefore.state, decidedBefore.reviewersRequired, decidedBefore.modelCall, decidedBefore.reviewers], ['approved', 1, false, undefined]);
    assert.deepEqual(decidedBefore.approvals, [{ reviewer: did(5), decidedAt: 150, selfReview: false }]);
    const pending = store.get(hexId(102))!;
    assert.deepEqual([pending.state, pending.reviewersRequired, pending.approvals], ['pending', 1, []]);
    // One approval ends it, as it would have before the upgrade.
    assert.equal(decided(store.decide(hexId(102), decision('approved', 200))), 'approved');
  } finally {
    upgraded.close();
  }
});
