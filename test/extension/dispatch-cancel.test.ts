// The dispatch notification's logic (issue 17): before a call nobody but the requester could review, the
// solo-dead-end decision names it; while the call waits on the agent for a reviewer, the watch says so and hands
// over the pending request to open; Cancel is a real cancel the broker records and the live model shows.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import type { PolicyTestResult, UserView } from '../../core/rpc/views';
import { connectTeamBroker } from '../../extension/connection/team-broker';
import { generateUserIdentity } from '../../extension/identity/user-key';
import { activityTree } from '../../extension/model/activity-tree';
import { approvalsTree } from '../../extension/model/approvals-tree';
import { cancelIntent, watchDispatch, type DispatchStatus } from '../../extension/model/intent-watch';
import { LiveModel } from '../../extension/model/live-model';
import { LOCAL_OPERATOR_EXPLAINED, localOperatorNote } from '../../extension/model/local-operator';
import { soloReview } from '../../extension/model/solo-review';
import { startAgent, waitFor } from '../support/processes';
import { connectLocal } from './support/local';
import { endedAfterEach } from './support/started';

const { launched, agents, remotes, dirs } = endedAfterEach();

const ME = `did:vaultys:${'1'.repeat(40)}`;
let n = 0;
function user(name: string, role: UserView['role'], over: Partial<UserView> = {}): UserView {
  n++;
  return { did: `did:vaultys:${String(n).padStart(40, 'a')}`, name, role, roleSetBy: null, invitedBy: null, removed: false, createdAt: 1, lastSeen: 1, ...over };
}
const me = user('alice', 'owner', { did: ME });
function dry(over: Partial<PolicyTestResult> = {}): PolicyTestResult {
  return { verdict: 'needs-approval', reason: null, gate: 'rules', message: 'needs 1 approval', rule: null, reviewers: 1, selfReview: false, hostChecks: [], ...over };
}

describe('the solo dead end, decided before dispatch', () => {
  test('alone (or with viewers, operators and removed reviewers only): a dead end, said in the words of the issue', () => {
    for (const others of [[], [user('vic', 'viewer'), user('olga', 'operator'), user('gone', 'reviewer', { removed: true })]]) {
      const verdict = soloReview(dry(), ME, [me, ...others]);
      assert.equal(verdict.deadEnd, true);
      if (!verdict.deadEnd) return;
      assert.equal(verdict.message, 'This call needs a reviewer other than you; nobody else can review on this broker.');
      assert.match(verdict.detail, /ends rejected \(approval-expired\)/);
      assert.match(verdict.detail, /Invite User, role reviewer/);
      assert.doesNotMatch(verdict.detail, /local operator/, 'no local operator on this broker: none explained');
    }
  });

  test('the local operator is named and explained, not counted: it decides only from the broker host\'s command line', () => {
    const verdict = soloReview(dry(), ME, [me, user('local operator', 'owner')]);
    assert.equal(verdict.deadEnd, true);
    if (verdict.deadEnd) assert.ok(verdict.detail.includes(LOCAL_OPERATOR_EXPLAINED));
    assert.equal(localOperatorNote('waits for a reviewer: local operator'), LOCAL_OPERATOR_EXPLAINED);
    assert.equal(localOperatorNote('waits for a reviewer: bob'), undefined);
  });

  test('no dead end when someone else may decide, the call needs no reviewer, or the rule lets the requester review', () => {
    for (const role of ['reviewer', 'admin', 'owner'] as const) assert.equal(soloReview(dry(), ME, [me, user('bob', role)]).deadEnd, false, role);
    assert.equal(soloReview(dry({ verdict: 'allowed', reviewers: 0 }), ME, [me]).deadEnd, false);
    assert.equal(soloReview(dry({ verdict: 'refused', reviewers: 0, reason: 'rule-denied' }), ME, [me]).deadEnd, false);
    assert.equal(soloReview(dry({ selfReview: true }), ME, [me]).deadEnd, false);
  });

  test('a quorum of two with one other reviewer is a dead end that names who can review', () => {
    const verdict = soloReview(dry({ reviewers: 2 }), ME, [me, user('bob', 'reviewer')]);
    assert.equal(verdict.deadEnd, true);
    if (verdict.deadEnd) assert.equal(verdict.message, 'This call needs 2 reviewers other than you; only bob can review on this broker.');
    assert.equal(soloReview(dry({ reviewers: 2 }), ME, [me, user('bob', 'reviewer'), user('carol', 'admin')]).deadEnd, false);
  });
});

describe('the dispatch notification against a real broker and agent', () => {
  test('alone, the dry run and the users make it a dead end; the watch offers the pending request; Cancel ends it cancelled and the agent never writes', async () => {
    const local = await connectLocal({ launched, name: 'alice' });
    dirs.push(dirname(local.dataDir));
    const model = new LiveModel();
    await model.attach(local.session);
    const info = await local.session.call('brokerInfo', {});
    const agent = await startAgent({ brokerUrl: info.hubUrl!, brokerDid: info.did, name: 'writer' });
    agents.push(agent);
    dirs.push(agent.stateDir, agent.workspace);
    await waitFor('the registration', () => model.agent(agent.did)?.status === 'pending');
    await local.session.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['write_file'], approvalRequired: ['write_file'] } });
    await waitFor('the agent online', () => model.agent(agent.did)?.online && model.agent(agent.did)?.status === 'approved');
    await local.session.call('grantsCreate', { user: local.session.user.did, agent: '*', capabilities: ['write_file'], validForMs: 3_600_000 });

    const request = { agent: agent.did, capability: 'write_file' as const, params: { path: 'solo.txt', content: 'x', mode: 'create' } };
    const alone = soloReview(await local.session.call('policyTest', request), local.session.user.did, model.users());
    assert.equal(alone.deadEnd, true, 'the only user is the requester');

    const sent = await local.session.call('intentsDispatch', request);
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    model.noteIntent(sent);
    const statuses: DispatchStatus[] = [];
    const watch = watchDispatch(model, sent.id, (s) => statuses.push(s));
    try {
      const waiting = await waitFor('the watch saying it waits for a reviewer', () => statuses.find((s) => s.waitingFor));
      const pending = (await local.session.call('approvalsList', { state: 'pending' })).items.find((a) => a.intentId === sent.id);
      assert.equal(waiting.waitingFor?.requestId, pending?.requestId, 'Open Approval opens the pending request of this intent');
      assert.match(waiting.message, /waits for a reviewer: a reviewer, admin or owner other than alice/);

      const cancelled = await cancelIntent(local.session, model, sent.id);
      assert.equal(cancelled.state, 'cancelled');
      assert.equal(model.intent(sent.id)?.state, 'cancelled', 'the model shows it at once');
      const last = await waitFor('the watch after the cancel', () => {
        const s = statuses[statuses.length - 1];
        return s && !s.waitingFor && /cancelled/.test(s.message) ? s : undefined;
      });
      assert.equal(last.message, `intent ${sent.id.slice(0, 8)} cancelled`);
      await waitFor('the approval ended in the model', () => model.pendingApprovals().every((a) => a.intentId !== sent.id));
      // What the Activity and Approvals views are built from: the row says cancelled (not waiting), no request left.
      const row = activityTree(model.intents(), { names: model, approvals: model.approvals(), users: model.users(), stalenessMs: 300_000, now: Date.now() }).find((r) => r.id === `intent:${sent.id}`);
      assert.match(row?.description ?? '', /^cancelled · writer/);
      assert.equal(row?.contextValue, 'intent.cancelled', 'no Cancel Intent on a cancelled row (the menu reads intent.sent / intent.running)');
      assert.deepEqual(approvalsTree(model.approvals(), model, Date.now()), []);
      const detail = await waitFor('the agent\'s answer kept', async () => {
        const d = await local.session.call('intentsGet', { id: sent.id });
        return d.signedResult ? d : undefined;
      });
      assert.deepEqual([detail.state, detail.reason], ['cancelled', 'cancelled']);
      assert.equal(await agent.log.waitFor('intent.rejected', (l) => l.intentId === sent.id).then((l) => l.reason), 'cancelled');
      assert.equal(existsSync(join(agent.workspace, 'solo.txt')), false, 'nothing written');
    } finally {
      watch.dispose();
    }
  });

  test('with a reviewer on the team broker it is no dead end, and a reviewer cannot cancel the owner\'s intent', async () => {
    const local = await connectLocal({ launched, name: 'alice' });
    dirs.push(dirname(local.dataDir));
    const model = new LiveModel();
    await model.attach(local.session);
    const info = await local.session.call('brokerInfo', {});
    const { token } = await local.session.call('invitationsCreate', { role: 'reviewer' });
    const bob = await connectTeamBroker(info.hubUrl!, info.did, generateUserIdentity(), { name: 'bob', invitation: token });
    remotes.push(bob);
    await waitFor('bob among the users', () => model.users().some((u) => u.name === 'bob'));
    assert.equal(soloReview(dry(), local.session.user.did, model.users()).deadEnd, false);
    await assert.rejects(bob.session.call('intentsCancel', { id: 'a'.repeat(32) }), /role reviewer may not call vaultysclaw\/intents\/cancel/);
  });
});
