// Issue 17, approvals where the eye is: who is told that a request arrived (a reviewer who may decide it, once, never
// its requester unless a self-reviewable model call), the tab named after the call and renamed once decided, the
// request a diff editor or an Approvals row belongs to, and a panel restored after a restart whose request is gone
// or decided: it says so and offers Close instead of waiting for ever (the lookup against a real broker).
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { after, describe, test } from 'node:test';
import type { ApprovalView } from '../../core/rpc/views';
import type { ExtensionToWebview } from '../../core/webview/approval-messages';
import { lookupApproval } from '../../extension/approval/approval-lookup';
import { ApprovalPanelController, panelTitle, UNAVAILABLE_TITLE, WAITING_TITLE, type PanelHost, type Reviewer } from '../../extension/approval/panel-controller';
import { APPROVAL_DIFF_SCHEME, requestArgument } from '../../extension/approval/request-argument';
import { reviewMessage, ReviewNotices, stillAwaiting } from '../../extension/approval/review-notices';
import { inertLinks } from '../../extension/model/notification-text';
import { LiveModel } from '../../extension/model/live-model';
import { removeDirs, waitFor } from '../support/processes';
import { connectLocal } from './support/local';
import { killLaunched, type LaunchedBroker } from './support/stdio-launcher';

const AGENT = `did:vaultys:00${'ab'.repeat(19)}`;
const REQUESTER = { did: `did:vaultys:01${'cd'.repeat(19)}`, name: 'rob', role: 'reviewer' } as const satisfies Reviewer;
const OWNER = { did: `did:vaultys:01${'0e'.repeat(19)}`, name: 'olga', role: 'owner' } as const satisfies Reviewer;
const OPERATOR = { did: `did:vaultys:01${'0f'.repeat(19)}`, name: 'otto', role: 'operator' } as const satisfies Reviewer;
const names = { agent: () => undefined, user: () => undefined } as unknown as PanelHost['names'];

let seq = 0;
const write = (over: Partial<ApprovalView> = {}): ApprovalView => ({
  requestId: (++seq).toString(16).padStart(32, '0'), intentId: 'b'.repeat(32), agent: AGENT, user: REQUESTER.did, capability: 'write_file',
  params: { path: 'notes.txt', content: 'hello\n', mode: 'create' }, cwd: '/srv', requestedAt: 1, expiresAt: Date.now() + 60_000,
  state: 'pending', decidedBy: null, reason: null, decidedAt: null, paramsTruncated: false,
  reviewers: 1, reviewersRequired: 1, approvals: [], modelCall: false, ...over,
});

const launched: LaunchedBroker[] = [];
const dirs: string[] = [];
after(async () => {
  await killLaunched(launched);
  removeDirs(...dirs);
});

describe('the Review notification', () => {
  test('goes to a reviewer who may decide, once per request, whatever changes after and across a reconnect', () => {
    const notices = new ReviewNotices();
    const a = write({ paramsTruncated: true });
    const now = Date.now();
    assert.deepEqual(notices.take([a], OWNER, now, { complete: true }).map((x) => x.requestId), [a.requestId], 'a list\'s cut params do not hide it');
    assert.deepEqual(notices.take([a], OWNER, now, { complete: true }), [], 'not again on the next change');
    // A second approval of a two-person request, a reconnect that lists it again: still once.
    assert.deepEqual(notices.take([{ ...a, approvals: [{ reviewer: REQUESTER.did, decidedAt: 2, selfReview: false }] }], OWNER, now, { complete: false }), []);
    assert.deepEqual(notices.take([], OWNER, now, { complete: false }), [], 'a model cleared on disconnect forgets nothing');
    assert.deepEqual(notices.take([a], OWNER, now, { complete: true }), [], 'reloaded after a reconnect: not again');
    const b = write();
    assert.deepEqual(notices.take([a, b], OWNER, now, { complete: true }).map((x) => x.requestId), [b.requestId], 'a second request is its own notification');
  });

  test('never to its requester (unless a self-reviewable model call), nor to a role that cannot decide, nor twice to who approved', () => {
    const now = Date.now();
    assert.deepEqual(new ReviewNotices().take([write()], REQUESTER, now, { complete: true }), [], 'the requester');
    assert.deepEqual(new ReviewNotices().take([write({ modelCall: true })], REQUESTER, now, { complete: true }), [], 'a model call whose rule does not allow self-review');
    assert.equal(new ReviewNotices().take([write({ modelCall: true, selfReview: true })], REQUESTER, now, { complete: true }).length, 1, 'a self-reviewable model call');
    assert.deepEqual(new ReviewNotices().take([write({ user: OWNER.did })], OPERATOR, now, { complete: true }), [], 'an operator');
    const approvedByOwner = write({ reviewersRequired: 2, approvals: [{ reviewer: OWNER.did, decidedAt: 2, selfReview: false }] });
    assert.deepEqual(new ReviewNotices().take([approvedByOwner], OWNER, now, { complete: true }), [], 'already approved by this reviewer');
    assert.deepEqual(new ReviewNotices().take([write({ state: 'approved' })], OWNER, now, { complete: true }), [], 'decided');
    assert.deepEqual(new ReviewNotices().take([write()], undefined, now, { complete: true }), [], 'nobody connected');
    assert.deepEqual(new ReviewNotices().take([write()], OWNER, now, { complete: true, skip: () => true }), [], 'its panel already open');
  });

  test('a request seen decided, or absent from a complete list, is forgotten: the memory is as small as the queue', () => {
    const notices = new ReviewNotices();
    const a = write();
    const now = Date.now();
    assert.equal(notices.take([a], OWNER, now, { complete: true }).length, 1);
    assert.equal(notices.take([], OWNER, now, { complete: true }).length, 0);
    // Forgotten: had it come back pending (it cannot, by the broker's rules), it would be announced again.
    assert.equal(notices.take([a], OWNER, now, { complete: true }).length, 1);
    assert.equal(notices.take([{ ...a, state: 'rejected' }], OWNER, now, { complete: false }).length, 0);
    assert.equal(notices.take([a], OWNER, now, { complete: false }).length, 1);
  });

  test('says who asks what on which agent, and the quorum so far', () => {
    const users: Record<string, string> = { [REQUESTER.did]: 'rob' };
    const withNames = { agent: () => ({ name: 'demo-agent' }), user: (d: string) => (users[d] ? { name: users[d] } : undefined) } as unknown as PanelHost['names'];
    assert.match(reviewMessage(write(), withNames), /^VaultysClaw: rob \([0-9A-F ]+\) asks to write_file notes\.txt on demo-agent \([0-9A-F ]+\); your review is needed\.$/);
    const two = write({ reviewersRequired: 2, approvals: [{ reviewer: OWNER.did, decidedAt: 2, selfReview: false }] });
    assert.match(reviewMessage(two, withNames), /your review is needed \(1 of 2 approvals so far\)\.$/);
    assert.match(reviewMessage(write({ modelCall: true }), withNames), /^VaultysClaw: The model of rob \([0-9A-F ]+\)'s task asks to/);
  });
});

describe('the Review notification goes away when the request is no longer the reviewer\'s to decide', () => {
  const BOB = { did: `did:vaultys:01${'0b'.repeat(19)}`, name: 'bob', role: 'reviewer' } as const satisfies Reviewer;
  const open = (ids: string[], approvals: ApprovalView[], options: { complete: boolean; skip?: (id: string) => boolean } = { complete: true }, reviewer: Reviewer | undefined = OWNER, now = Date.now()) =>
    stillAwaiting(ids, approvals, reviewer, now, options);

  test('another reviewer decided first, the requester withdrew it, it expired, or this reviewer approved (two-person rule): it closes', () => {
    const a = write();
    assert.deepEqual(open([a.requestId], [a]), [a.requestId], 'still pending: the notice stays');
    assert.deepEqual(open([a.requestId], [{ ...a, state: 'approved', decidedBy: BOB.did, decidedAt: 2 }]), [], 'approved by bob first');
    assert.deepEqual(open([a.requestId], [{ ...a, state: 'rejected', decidedBy: BOB.did, decidedAt: 2 }]), [], 'rejected by bob first');
    assert.deepEqual(open([a.requestId], [{ ...a, state: 'expired', reason: 'cancelled: its intent ended cancelled' }]), [], 'withdrawn by its requester');
    assert.deepEqual(open([a.requestId], [a], { complete: true }, OWNER, a.expiresAt), [], 'timed out, before the broker says so');
    const two = write({ reviewersRequired: 2 });
    assert.deepEqual(open([two.requestId], [{ ...two, approvals: [{ reviewer: BOB.did, decidedAt: 2, selfReview: false }] }]), [two.requestId], 'bob\'s approval of a two-person request leaves it to olga');
    assert.deepEqual(open([two.requestId], [{ ...two, approvals: [{ reviewer: OWNER.did, decidedAt: 2, selfReview: false }] }]), [], 'olga approved it (from a row or the diff): nothing left for her');
    assert.deepEqual(open([a.requestId], [a], { complete: true, skip: () => true }), [], 'its panel is open (Review was clicked): the panel says the rest');
  });

  test('gone from a complete list it closes; from a partial one (disconnected, loading) it stays, and a summary stays while one of its requests waits', () => {
    const [a, b] = [write(), write()];
    assert.deepEqual(open([a.requestId], [], { complete: true }), [], 'the broker no longer lists it');
    assert.deepEqual(open([a.requestId], [], { complete: false }), [a.requestId], 'unknown while the list is partial');
    assert.deepEqual(open([a.requestId], [a], { complete: false }, undefined), [a.requestId], 'disconnected: a request seen pending stays announced');
    assert.deepEqual(open([a.requestId, b.requestId], [{ ...a, state: 'approved' }, b]), [b.requestId], 'the summary notice stays for b');
    assert.deepEqual(open([a.requestId, b.requestId], [{ ...a, state: 'approved' }, { ...b, state: 'rejected' }]), [], 'and closes when none waits');
  });

  test('a name, a path or a model\'s arguments cannot put a command link in the notification (VS Code renders [label](command:…) in a message)', () => {
    // The pattern the workbench's notification renderer links (vs/base/common/linkedText.ts).
    const LINK = /\[([^\]]+)\]\(((?:https?:\/\/|command:|file:)[^)\s]+)(?: (["'])(.+?)(\3))?\)/gi;
    const users: Record<string, string> = { [REQUESTER.did]: '[Approve](command:vaultysclaw.approve)' };
    const hostile = { agent: () => ({ name: '[x](https://evil.example)' }), user: (d: string) => (users[d] ? { name: users[d] } : undefined) } as unknown as PanelHost['names'];
    const message = reviewMessage(write({ params: { path: '[Review](command:workbench.action.terminal.sendSequence?%7B%7D)', content: '', mode: 'create' } }), hostile);
    assert.deepEqual(message.match(LINK), null, message);
    assert.match(message, /\[Approve\] \(command:vaultysclaw\.approve\)/, 'the text is still shown, readable');
    assert.equal(inertLinks('see [docs](https://x.y) and [a](command:b)').match(LINK), null);
  });
});

describe('the approval tab', () => {
  test('is named after the call, and renamed once decided', () => {
    assert.equal(panelTitle(write()), 'Approve write_file notes.txt?');
    assert.equal(panelTitle(write({ state: 'approved' })), 'Approved: write_file notes.txt');
    assert.equal(panelTitle(write({ state: 'rejected' })), 'Rejected: write_file notes.txt');
    assert.equal(panelTitle(write({ state: 'expired' })), 'Expired: write_file notes.txt');
    assert.notEqual(panelTitle(write({ params: { path: 'a/notes.txt', content: '', mode: 'create' } })), panelTitle(write({ params: { path: 'b/notes.txt', content: '', mode: 'create' } })), 'two writes, two names');
    assert.equal(panelTitle(write({ params: { path: `${'deep/'.repeat(20)}notes.txt`, content: '', mode: 'create' } })), `Approve write_file …${`${'deep/'.repeat(20)}notes.txt`.slice(-39)}?`, 'a long path keeps its end');
    const run = write({ capability: 'run_command', params: { command: 'git', args: ['push', 'origin', 'main'], cwd: '.', timeoutMs: 1000 } });
    assert.equal(panelTitle(run), 'Approve run_command git push origin main?');
    assert.equal(panelTitle({ ...run, params: { command: 'echo', args: ['x'.repeat(80)], cwd: '.', timeoutMs: 1000 } }).length, 'Approve run_command ?'.length + 40);
  });

  test('the request a diff editor, an Approvals row or an id names; nothing else', () => {
    const id = 'c'.repeat(32);
    assert.deepEqual(requestArgument({ scheme: APPROVAL_DIFF_SCHEME, path: `/${id}/notes.txt`, query: 'proposed' }), { requestId: id, source: 'diff' });
    assert.deepEqual(requestArgument({ id: `approval:${id}`, label: 'write_file notes.txt' }), { requestId: id, source: 'row' });
    assert.deepEqual(requestArgument(id), { requestId: id, source: 'id' });
    for (const junk of [undefined, null, 7, 'x', { scheme: 'file', path: `/${id}/notes.txt` }, { scheme: APPROVAL_DIFF_SCHEME, path: '/../x' }, { id: `intent:${id}` }, { id: 'approval:ZZ' }]) {
      assert.equal(requestArgument(junk), undefined, JSON.stringify(junk));
    }
  });
});

/** A panel's host as the extension builds it, over a real broker session for the lookup. */
function ghostHost(lookup: PanelHost['lookup'], connected: () => boolean) {
  const posted: ExtensionToWebview[] = [];
  const titles: string[] = [];
  let closed = 0;
  const host: PanelHost = {
    post: (m) => posted.push(m), approval: () => undefined, names, reviewer: () => OWNER, connected, now: () => Date.now(), report: () => undefined,
    decide: async () => assert.fail('nothing to decide'), allowCall: async () => assert.fail('nothing to allow'), withdraw: async () => assert.fail('nothing to withdraw'), openDiff: async () => null,
    lookup, setTitle: (t) => titles.push(t), close: () => (closed += 1),
  };
  return { host, posted, titles, closed: () => closed };
}

describe('a panel restored after a restart', () => {
  test('whose request the broker no longer holds says so, is renamed, and closes on Close; it asks the broker once', async () => {
    const local = await connectLocal({ launched, name: 'owner' });
    dirs.push(dirname(local.dataDir));
    const model = new LiveModel();
    await model.attach(local.session);
    let lookups = 0;
    let connected = false;
    const ghost = ghostHost(async (id) => {
      lookups += 1;
      return lookupApproval(local.session, model, id);
    }, () => connected);
    const controller = new ApprovalPanelController('d'.repeat(32), ghost.host);
    await controller.receive({ type: 'ready' });
    // Before the broker is back: waiting, said as such, with Close; no lookup without a connection.
    const waiting = ghost.posted.at(-1);
    assert.ok(waiting?.type === 'unavailable' && !waiting.final && waiting.requestId === 'd'.repeat(32), JSON.stringify(waiting));
    assert.match(waiting.message, /not connected to a broker/);
    assert.equal(ghost.titles.at(-1), WAITING_TITLE);
    assert.equal(lookups, 0);
    connected = true;
    controller.refresh();
    const gone = await waitFor('the unavailable state', () => {
      const m = ghost.posted.at(-1);
      return m?.type === 'unavailable' && m.final ? m : undefined;
    });
    assert.match(gone.message, /The broker no longer holds this approval request/);
    assert.equal(ghost.titles.at(-1), UNAVAILABLE_TITLE);
    controller.refresh();
    controller.refresh();
    assert.equal(lookups, 1, 'asked once, not on every change');
    await controller.receive({ type: 'close' });
    assert.equal(ghost.closed(), 1);
  });

  test('whose request was decided meanwhile shows the decision, named "Approved: …", instead of waiting', async () => {
    const decided = write({ state: 'approved', decidedBy: OWNER.did, decidedAt: 5, approvals: [{ reviewer: OWNER.did, decidedAt: 5, selfReview: false }] });
    const ghost = ghostHost(async () => decided, () => true);
    const controller = new ApprovalPanelController(decided.requestId, ghost.host);
    await controller.receive({ type: 'ready' });
    const shown = await waitFor('the decided state', () => {
      const m = ghost.posted.at(-1);
      return m?.type === 'state' ? m.state : undefined;
    });
    assert.equal(shown.state, 'approved');
    assert.match(shown.cannotDecide ?? '', /already approved/);
    assert.equal(ghost.titles.at(-1), 'Approved: write_file notes.txt');
  });
});
