import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { ApprovalStore, type ReviewerDecision } from '../../../broker/store/approval-store';
import { MIGRATIONS, openDatabase } from '../../../broker/store/database';
import { openSqliteStorage } from '../../../broker/store/sql/sqlite-storage';
import { removeDirs, tempDir } from '../../support/processes';
import { BUDGETS } from '../../../core/budgets';
import type { ApprovalRequestBody } from '../../../core/wire/approval';
import { backends, type Backend } from './sql/support/backends';
import { together } from './sql/support/together';
import { envelope } from './support/sent-intents';
import { did, hexId } from './support/temp-database';

const request = (n: number, intent: string, at: number, params: Record<string, unknown> = { command: 'make' }): ApprovalRequestBody => ({
  requestId: hexId(100 + n), intentId: intent, agent: did(1), user: did(2), capability: 'run_command', params, cwd: '/work', requestedAt: at, expiresAt: at + 1_000,
});

const decision = (state: 'approved' | 'rejected', decidedAt: number, reviewer = did(5)): ReviewerDecision => ({
  reviewer, decision: state === 'approved' ? 'approve' : 'reject', reason: state === 'rejected' ? 'no' : null, selfReview: false, decidedAt, envelope: envelope(), countersignature: envelope(),
});
const decided = (outcome: Awaited<ReturnType<ApprovalStore['decide']>>) => (outcome.ok ? outcome.view.state : outcome.why);

/** A fresh storage with agent did(1) and its intents hexId(1) and hexId(2) in flight: the rows approvals reference. */
async function approvals(backend: Backend) {
  const storage = await backend.open();
  await storage.db.insertInto('agents').values({ did: did(1), id_b64: 'AA==', name: 'agent', requested: '[]', status: 'approved', first_seen: 1, last_seen: 1 }).execute();
  for (const id of [hexId(1), hexId(2)]) {
    await storage.db.insertInto('intents').values({ id, agent_did: did(1), capability: 'run_command', params: '{}', user_did: did(2), state: 'sent', created_at: 1, updated_at: 1 }).execute();
  }
  return { storage, approvals: new ApprovalStore(storage) };
}

for (const backend of backends()) {
describe(`ApprovalStore on ${backend.name}`, () => {
  test('a request is stored pending with its full params, and survives a broker restart', async () => {
    const store = await approvals(backend);
    const view = await store.approvals.add(request(1, hexId(1), 100), envelope(), false);
    assert.equal(view.state, 'pending');
    assert.deepEqual(view.params, { command: 'make' });
    const reread = await new ApprovalStore(store.storage).get(hexId(101));
    assert.deepEqual(reread, view);
  });

  test('only a pending request can be decided: a second decision, whatever it says, changes nothing', async () => {
    const { approvals: store } = await approvals(backend);
    await store.add(request(1, hexId(1), 100), envelope(), false);
    assert.equal(decided(await store.decide(hexId(101), decision('approved', 200))), 'approved');
    assert.equal(decided(await store.decide(hexId(101), decision('rejected', 300, did(6)))), 'not-pending');
    const view = (await store.get(hexId(101)))!;
    assert.deepEqual([view.state, view.decidedBy, view.decidedAt, view.reason], ['approved', did(5), 200, null]);
    assert.equal(decided(await store.decide(hexId(999), decision('approved', 200))), 'not-pending');
  });

  test('U+0000 in what an agent or a reviewer wrote (cwd, rule, a rejection reason) reads back as U+FFFD on this backend, as on the other; params keep it', async () => {
    const { approvals: store } = await approvals(backend);
    const view = await store.add({ ...request(1, hexId(1), 100, { command: 'a\u0000b' }), cwd: '/wo\u0000rk', rule: 'r\u0000' }, envelope(), false);
    assert.deepEqual([view.cwd, view.rule, view.params], ['/wo\uFFFDrk', 'r\uFFFD', { command: 'a\u0000b' }]);
    const rejected = await store.decide(hexId(101), { ...decision('rejected', 200), reason: 'n\u0000o' });
    assert.equal(rejected.ok && rejected.view.reason, 'n\uFFFDo');
    assert.equal((await store.get(hexId(101)))!.reason, 'n\uFFFDo');
  });

  test('requests past their deadline expire, once; a decided one does not', async () => {
    const { approvals: store } = await approvals(backend);
    await store.add(request(1, hexId(1), 100), envelope(), false);
    await store.add(request(2, hexId(1), 100), envelope(), false);
    await store.add(request(3, hexId(2), 5_000), envelope(), false);
    await store.decide(hexId(102), decision('approved', 150));
    assert.deepEqual(await store.expireDue(1_099), []);
    assert.deepEqual(await store.expireDue(1_100), [hexId(101)]);
    assert.deepEqual(await store.expireDue(1_100), []);
    assert.equal((await store.get(hexId(101)))!.state, 'expired');
    assert.equal((await store.get(hexId(102)))!.state, 'approved');
    assert.equal(decided(await store.decide(hexId(101), decision('approved', 1_200))), 'not-pending', 'an expired request cannot be approved late');
  });

  test('an intent that ends cancels its pending requests with why; pendingFor lists only those still pending', async () => {
    const { approvals: store } = await approvals(backend);
    await store.add(request(1, hexId(1), 100), envelope(), false);
    await store.add(request(2, hexId(1), 100), envelope(), false);
    await store.add(request(3, hexId(2), 100), envelope(), false);
    await store.decide(hexId(102), decision('rejected', 150));
    assert.deepEqual(await store.pendingFor(hexId(1)), [hexId(101)]);
    assert.equal(await store.cancel(hexId(101), 'the intent ended', 160), true);
    assert.equal(await store.cancel(hexId(101), 'again', 170), false);
    const cancelled = (await store.get(hexId(101)))!;
    assert.deepEqual([cancelled.state, cancelled.reason, cancelled.decidedAt], ['expired', 'the intent ended', 160]);
    assert.deepEqual(await store.pendingFor(hexId(1)), []);
    assert.deepEqual(await store.pendingFor(hexId(2)), [hexId(103)]);
  });

  test('lists are newest first, filtered by state, with params summarized (get gives them whole)', async () => {
    const { approvals: store } = await approvals(backend);
    const long = { content: 'c'.repeat(BUDGETS.summaryTextChars.limit + 1) };
    await store.add(request(1, hexId(1), 100), envelope(), false);
    await store.add(request(2, hexId(1), 200, long), envelope(), false);
    await store.decide(hexId(101), decision('approved', 300));
    const all = await store.list(undefined, { limit: 10 });
    assert.deepEqual(all.items.map((a) => a.requestId), [hexId(102), hexId(101)]);
    assert.equal(all.items[0]!.paramsTruncated, true);
    assert.equal((all.items[0]!.params.content as string).length, BUDGETS.summaryTextChars.limit + 1);
    assert.deepEqual((await store.get(hexId(102)))!.params, long);
    assert.deepEqual((await store.list('pending', { limit: 10 })).items.map((a) => a.requestId), [hexId(102)]);
  });

  test('a request for two reviewers stays pending after the first approval, ends approved at the second, and lists both in order', async () => {
    const store = await approvals(backend);
    await store.approvals.add({ ...request(1, hexId(1), 100), reviewers: 2, selfReview: true, rule: 'run_command rule 0: ask ["make","*"]' }, envelope(), true);
    const first = await store.approvals.decide(hexId(101), { ...decision('approved', 150, did(2)), selfReview: true });
    assert.ok(first.ok);
    assert.deepEqual([first.view.state, first.view.reviewersRequired, first.view.approvals, first.view.decidedBy], ['pending', 2, [{ reviewer: did(2), decidedAt: 150, selfReview: true }], null]);
    assert.equal(decided(await store.approvals.decide(hexId(101), decision('approved', 160, did(2)))), 'same-reviewer', 'the same reviewer twice adds nothing');
    assert.equal((await store.approvals.get(hexId(101)))!.approvals.length, 1);
    const second = await store.approvals.decide(hexId(101), decision('approved', 170, did(5)));
    assert.ok(second.ok);
    assert.deepEqual([second.view.state, second.view.decidedBy, second.view.approvals.map((a) => a.reviewer)], ['approved', did(5), [did(2), did(5)]]);
    const restarted = new ApprovalStore(store.storage);
    const reread = (await restarted.get(hexId(101)))!;
    assert.deepEqual([reread.reviewers, reread.selfReview, reread.rule, reread.modelCall], [2, true, 'run_command rule 0: ask ["make","*"]', true]);
    assert.deepEqual((await restarted.list('approved', { limit: 10 })).items[0]!.approvals, second.view.approvals, 'lists carry the approvals too');
  });

  test('any one rejection ends a request for several reviewers, whatever approvals it had', async () => {
    const { approvals: store } = await approvals(backend);
    await store.add({ ...request(1, hexId(1), 100), reviewers: 3 }, envelope(), false);
    assert.equal(decided(await store.decide(hexId(101), decision('approved', 150, did(5)))), 'pending');
    assert.equal(decided(await store.decide(hexId(101), decision('rejected', 160, did(6)))), 'rejected');
    assert.equal(decided(await store.decide(hexId(101), decision('approved', 170, did(7)))), 'not-pending');
    const view = (await store.get(hexId(101)))!;
    assert.deepEqual([view.state, view.decidedBy, view.reason, view.approvals.length], ['rejected', did(6), 'no', 1]);
  });

  test('two reviewers deciding one request at once: one decision is kept, the other is told not-pending, both read the winner', async () => {
    const { storage, approvals: store } = await approvals(backend);
    await store.add(request(1, hexId(1), 100), envelope(), false);
    const outcomes = await together(storage, 'approvals', [() => store.decide(hexId(101), decision('approved', 150, did(5))), () => store.decide(hexId(101), decision('rejected', 151, did(6)))]);
    assert.deepEqual(outcomes.map(decided).sort(), ['not-pending', outcomes[0]!.ok ? 'approved' : 'rejected'].sort());
    const winner = outcomes.find((o) => o.ok)!;
    assert.ok(winner.ok);
    assert.deepEqual(await store.get(hexId(101)), winner.view);
  });

  test('two requests of one intent at once with room for one pending: one is added, the other refused (addWithin)', async () => {
    const { storage, approvals: store } = await approvals(backend);
    const bounds = { perIntent: BUDGETS.approvalRequestsPerIntent.limit, pendingPerIntent: 1 };
    const added = await together(storage, 'approvals', [1, 2].map((n) => () => store.addWithin(request(n, hexId(1), 100), envelope(), false, bounds)));
    assert.deepEqual(added.map((a) => (typeof a === 'string' ? a : a.state)).sort(), ['approval-pending', 'pending']);
    assert.equal((await store.pendingFor(hexId(1))).length, 1);
    // Either may win: the one stored is a replay when sent again.
    const winner = added.findIndex((a) => typeof a !== 'string') + 1;
    assert.equal(await store.addWithin(request(winner, hexId(1), 100), envelope(), false, { ...bounds, pendingPerIntent: 5 }), 'replay');
  });

  test('a request for an intent the broker never recorded is refused by the database', async () => {
    const { approvals: store } = await approvals(backend);
    await assert.rejects(store.add(request(1, hexId(77), 100), envelope(), false), /foreign key/i);
  });

  test('two approvals at once on a request for two reviewers: both are kept and it ends approved (neither misses the other)', async () => {
    const { storage, approvals: store } = await approvals(backend);
    await store.add({ ...request(1, hexId(1), 100), reviewers: 2 }, envelope(), false);
    const outcomes = await together(storage, 'approvals', [5, 6].map((n) => () => store.decide(hexId(101), decision('approved', 150 + n, did(n)))));
    assert.deepEqual(outcomes.map(decided).sort(), ['approved', 'pending']);
    const view = (await store.get(hexId(101)))!;
    assert.equal(view.state, 'approved');
    assert.deepEqual(view.approvals.map((a) => a.reviewer).sort(), [did(5), did(6)]);
  });

  test('the same reviewer twice at once: one decision is kept, the other is told same-reviewer', async () => {
    const { storage, approvals: store } = await approvals(backend);
    await store.add({ ...request(1, hexId(1), 100), reviewers: 2 }, envelope(), false);
    const outcomes = await together(storage, 'approvals', [150, 151].map((at) => () => store.decide(hexId(101), decision('approved', at))));
    assert.deepEqual(outcomes.map(decided).sort(), ['pending', 'same-reviewer']);
    assert.equal((await store.get(hexId(101)))!.approvals.length, 1);
  });

  test('two requests of one intent at once with one request left in its lifetime: one is added, the other refused approval-limit', async () => {
    const { storage, approvals: store } = await approvals(backend);
    await store.add(request(0, hexId(1), 100), envelope(), false);
    await store.decide(hexId(100), decision('approved', 100));
    const bounds = { perIntent: 2, pendingPerIntent: 5 };
    const added = await together(storage, 'approvals', [1, 2].map((n) => () => store.addWithin(request(n, hexId(1), 100), envelope(), false, bounds)));
    assert.deepEqual(added.map((a) => (typeof a === 'string' ? a : a.state)).sort(), ['approval-limit', 'pending']);
    assert.equal(await store.countFor(hexId(1)), 2);
  });

  test('one request id sent for two intents at once: one is added, the other is a replay', async () => {
    const { storage, approvals: store } = await approvals(backend);
    const bounds = { perIntent: 5, pendingPerIntent: 5 };
    const added = await together(storage, 'approvals', [hexId(1), hexId(2)].map((intent) => () => store.addWithin(request(1, intent, 100), envelope(), false, bounds)));
    assert.deepEqual(added.map((a) => (typeof a === 'string' ? a : a.state)).sort(), ['pending', 'replay']);
  });

  test('expiry and a decision at once: the request ends one way, and both agree', async () => {
    const { storage, approvals: store } = await approvals(backend);
    await store.add(request(1, hexId(1), 100), envelope(), false);
    const [expired, outcome] = await together<unknown>(storage, 'approvals', [() => store.expireDue(5_000), () => store.decide(hexId(101), decision('approved', 150))]) as [string[], Awaited<ReturnType<ApprovalStore['decide']>>];
    const state = (await store.get(hexId(101)))!.state;
    if (expired.length === 1) assert.deepEqual([decided(outcome), state], ['not-pending', 'expired']);
    else assert.deepEqual([decided(outcome), state], ['approved', 'approved']);
  });
});
}

test('requests stored before the quorum upgrade need one reviewer, and keep the decision they had as their approval', async () => {
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
  const storage = openSqliteStorage(upgraded);
  try {
    const store = new ApprovalStore(storage);
    const decidedBefore = (await store.get(hexId(101)))!;
    assert.deepEqual([decidedBefore.state, decidedBefore.reviewersRequired, decidedBefore.modelCall, decidedBefore.reviewers], ['approved', 1, false, undefined]);
    assert.deepEqual(decidedBefore.approvals, [{ reviewer: did(5), decidedAt: 150, selfReview: false }]);
    const pending = (await store.get(hexId(102)))!;
    assert.deepEqual([pending.state, pending.reviewersRequired, pending.approvals], ['pending', 1, []]);
    // One approval ends it, as it would have before the upgrade.
    assert.equal(decided(await store.decide(hexId(102), decision('approved', 200))), 'approved');
  } finally {
    await storage.close();
    upgraded.close();
  }
});
