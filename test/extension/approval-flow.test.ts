// The approval panel's logic end to end against a real broker and a real agent: an owner (the extension's
// local user) dispatches a write that needs a reviewer; a reviewer attached over the team broker's WebSocket
// sees it in the Approvals tree, the panel posts nothing before `ready`, shows every parameter in full, and
// the decision it sends is sealed with the reviewer's own key. The agent then proceeds.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { open, VaultysId } from '../../core/identity';
import { shortFingerprint } from '../../core/text/untrusted-text';
import { ApprovalDecisionBody } from '../../core/wire/approval';
import type { ExtensionToWebview } from '../../core/webview/approval-messages';
import { sealDecision, sendDecision } from '../../extension/approval/decision';
import { ApprovalPanelController, panelTitle, type PanelHost } from '../../extension/approval/panel-controller';
import type { BrokerSession } from '../../extension/connection/broker-session';
import { connectTeamBroker } from '../../extension/connection/team-broker';
import { PermanentConnectError } from '../../extension/connection/supervisor';
import { generateUserIdentity } from '../../extension/identity/user-key';
import { intentDocument } from '../../extension/intent-document';
import { activityTree } from '../../extension/model/activity-tree';
import { approvalsTree, OPEN_APPROVAL_COMMAND } from '../../extension/model/approvals-tree';
import { LiveModel } from '../../extension/model/live-model';
import { cancelIntent } from '../../extension/model/intent-watch';
import { startAgent, waitFor } from '../support/processes';
import { connectLocal } from './support/local';
import { endedAfterEach } from './support/started';

const { launched, agents, remotes, dirs } = endedAfterEach();

function panelHost(session: BrokerSession, model: LiveModel, requestId: string, posted: ExtensionToWebview[], reports: string[]): PanelHost {
  return {
    post: (m) => posted.push(m),
    approval: () => model.approval(requestId),
    names: { agent: (d) => model.agent(d), user: (d) => model.user(d) },
    reviewer: () => ({ did: session.user.did, name: session.user.name, role: session.role }),
    connected: () => model.connected,
    now: () => Date.now(),
    report: (m) => reports.push(m),
    // The extension's one path to approvals/decide (the panel, the diff title bar and Approvals rows all use it).
    decide: (approval, decision, reason) => sendDecision(session, model, approval, decision, reason),
    allowCall: async (approval) => (await session.call('policyAllowCall', { requestId: approval.requestId })).rule,
    withdraw: async (approval) => void (await cancelIntent(session, model, approval.intentId)),
    openDiff: async () => null,
    lookup: async (id) => session.call('approvalsGet', { requestId: id }),
    setTitle: () => undefined,
    close: () => undefined,
  };
}

const lastState = (posted: ExtensionToWebview[]) => {
  const m = posted[posted.length - 1];
  return m?.type === 'state' ? m.state : undefined;
};

describe('tool approval through the panel logic', () => {
  test('a reviewer on the team WebSocket approves an owner\'s write; the decision is signed by the reviewer and the agent proceeds', async () => {
    const owner = await connectLocal({ launched, name: 'alice' });
    dirs.push(dirname(owner.dataDir));
    const ownerModel = new LiveModel();
    await ownerModel.attach(owner.session);
    const info = await owner.session.call('brokerInfo', {});

    // The reviewer joins the team broker with an invitation, pinned to its DID.
    const { token } = await owner.session.call('invitationsCreate', { role: 'reviewer' });
    const bobKey = generateUserIdentity();
    const bob = await connectTeamBroker(info.hubUrl!, info.did, bobKey, { name: 'bob', invitation: token });
    remotes.push(bob);
    assert.equal(bob.session.role, 'reviewer');
    const bobModel = new LiveModel();
    await bobModel.attach(bob.session);

    const agent = await startAgent({ brokerUrl: info.hubUrl!, brokerDid: info.did, name: 'writer' });
    agents.push(agent);
    dirs.push(agent.stateDir, agent.workspace);
    await waitFor('the registration', () => ownerModel.agent(agent.did)?.status === 'pending');
    await owner.session.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['read_file', 'write_file'], approvalRequired: ['write_file'] } });
    await waitFor('the agent online', () => ownerModel.agent(agent.did)?.online && ownerModel.agent(agent.did)?.status === 'approved');
    await owner.session.call('grantsCreate', { user: owner.session.user.did, agent: '*', capabilities: ['read_file', 'write_file'], validForMs: 3_600_000 });

    const content = 'line one\nline two: every byte shown\n';
    const sent = await owner.session.call('intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'reviewed.txt', content, mode: 'create' } });
    ownerModel.noteIntent(sent);

    // Bob's Approvals tree shows it, from a notification.
    const rows = await waitFor('the pending approval in the reviewer\'s tree', () => {
      const tree = approvalsTree(bobModel.approvals(), { agent: (d) => bobModel.agent(d), user: (d) => bobModel.user(d) }, Date.now());
      return tree.length ? tree : undefined;
    });
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.equal(row.label, 'write_file reviewed.txt');
    assert.equal(row.contextValue, 'approval.pending');
    // Names a decision depends on carry their fingerprint: a look-alike requester or agent reads differently.
    assert.equal(row.description, `alice (${shortFingerprint(owner.session.user.did)}) · just now · on writer (${shortFingerprint(agent.did)})`);
    assert.equal(row.command?.id, OPEN_APPROVAL_COMMAND);
    const requestId = String(row.command?.args[0]);

    // The owner's Activity view says the write waits for a reviewer, and who: bob, not alice who asked.
    const ownerActivity = () => activityTree(ownerModel.intents(), { names: { agent: (d) => ownerModel.agent(d), user: (d) => ownerModel.user(d) }, approvals: ownerModel.approvals(), users: ownerModel.users(), stalenessMs: 300_000, now: Date.now() });
    const waitingRow = await waitFor('the paused write in the owner\'s Activity view', () => {
      const found = ownerActivity().find((n) => n.id === `intent:${sent.id}`);
      return found && /waiting for approval/.test(found.description ?? '') ? found : undefined;
    });
    assert.equal(waitingRow.description, `waiting for approval by bob · writer (${shortFingerprint(agent.did)}) · just now`);
    assert.equal(waitingRow.icon?.id, 'shield');
    // Past the staleness window it is still waiting, not stale: the agent holds it.
    const later = activityTree(ownerModel.intents(), { names: { agent: (d) => ownerModel.agent(d), user: (d) => ownerModel.user(d) }, approvals: ownerModel.approvals(), users: ownerModel.users(), stalenessMs: 1, now: Date.now() + 10 });
    assert.match(later.find((n) => n.id === `intent:${sent.id}`)?.description ?? '', /^waiting for approval by bob/);

    // The owner, who asked, cannot decide their own request.
    const ownerPosted: ExtensionToWebview[] = [];
    await waitFor('the approval at the owner', () => ownerModel.approval(requestId));
    const ownerPanel = new ApprovalPanelController(requestId, panelHost(owner.session, ownerModel, requestId, ownerPosted, []));
    await ownerPanel.receive({ type: 'ready' });
    assert.match(lastState(ownerPosted)?.cannotDecide ?? '', /You asked for this tool call/);
    await ownerPanel.receive({ type: 'decide', decision: 'approve', reason: '' });
    assert.equal(ownerModel.approval(requestId)?.state, 'pending', 'a refused self-approval sends nothing');

    // Bob's panel: nothing before ready; malformed messages are ignored.
    const posted: ExtensionToWebview[] = [];
    const reports: string[] = [];
    const panel = new ApprovalPanelController(requestId, panelHost(bob.session, bobModel, requestId, posted, reports));
    panel.refresh();
    assert.equal(posted.length, 0, 'no state before the webview says ready');
    await panel.receive({ type: 'decide', decision: 'approve' });
    await panel.receive({ type: 'approve-everything' });
    assert.equal(reports.length, 2, 'malformed messages are reported and ignored');
    assert.equal(bobModel.approval(requestId)?.state, 'pending');

    await panel.receive({ type: 'ready' });
    const state = lastState(posted)!;
    assert.equal(state.requestId, requestId);
    assert.equal(state.agent.name, `writer (${shortFingerprint(agent.did)})`);
    assert.equal(state.requester.name, `alice (${shortFingerprint(owner.session.user.did)})`);
    assert.equal(state.requester.did, owner.session.user.did);
    assert.equal(state.capability, 'write_file');
    assert.deepEqual(
      state.params.map((p) => [p.name, p.text]),
      [
        ['path', 'reviewed.txt'],
        ['content', content],
        ['mode', 'create'],
      ],
      'every parameter, in full',
    );
    assert.equal(state.canDiff, true);
    assert.equal(state.cannotDecide, null);
    assert.equal(state.connected, true);

    await panel.receive({ type: 'decide', decision: 'approve', reason: 'looks fine' });
    const decided = lastState(posted)!;
    assert.equal(decided.state, 'approved');
    assert.equal(decided.decidedBy?.did, bobKey.did);
    assert.equal(decided.decisionReason, 'looks fine');
    assert.equal(decided.error, null);
    assert.match(decided.notice ?? '', /signed with your key/);

    const final = await ownerModel.waitForFinal(sent.id, { timeoutMs: 20_000 });
    assert.equal(final.state, 'succeeded', `${final.state} ${final.reason ?? ''} ${final.message ?? ''}`);
    assert.equal(readFileSync(join(agent.workspace, 'reviewed.txt'), 'utf8'), content);
    // Usage is not pushed by the broker; the ended intent is the model's cue to re-read the agent.
    await waitFor('the agent usage to count the write', () => (ownerModel.agent(agent.did)?.usage.requestsLastHour ?? 0) >= 1);

    // The Activity tree says so, and opening the intent checks the broker's signature on it.
    const intentRow = ownerActivity().find((n) => n.id === `intent:${sent.id}`)!;
    assert.equal(intentRow.contextValue, 'intent.succeeded');
    assert.match(intentRow.description ?? '', /^succeeded · writer/);
    // The signed envelopes come with the intent's detail, fetched on demand (Show Signed Intent and Result).
    const detail = await owner.session.call('intentsGet', { id: sent.id });
    assert.deepEqual(detail.omitted, []);
    const doc = JSON.parse(intentDocument(detail, info.id)) as { signedIntent: { verified: string; body: { id: string; params: unknown } }; signedResult: { decoded: { body: { outcome: string } } } };
    assert.match(doc.signedIntent.verified, /checked here against the pinned broker id/);
    assert.equal(doc.signedIntent.body.id, sent.id);
    assert.deepEqual(doc.signedIntent.body.params, { path: 'reviewed.txt', content, mode: 'create' });
    assert.equal(doc.signedResult.decoded.body.outcome, 'succeeded');
    const forged = JSON.parse(intentDocument(detail, bobKey.id.toBase64())) as { signedIntent: { verified: string } };
    assert.match(forged.signedIntent.verified, /^NOT VERIFIED/, 'checked against any other key, the intent does not verify');
  });

  test('Withdraw request: the requester and an admin are offered it, a reviewer is not (and is refused if its webview sends it); the requester\'s withdraw cancels the intent and every open panel says withdrawn', async () => {
    const owner = await connectLocal({ launched, name: 'alice' });
    dirs.push(dirname(owner.dataDir));
    const info = await owner.session.call('brokerInfo', {});
    const join = async (role: 'reviewer' | 'admin' | 'operator', name: string) => {
      const { token } = await owner.session.call('invitationsCreate', { role });
      const member = await connectTeamBroker(info.hubUrl!, info.did, generateUserIdentity(), { name, invitation: token });
      remotes.push(member);
      const model = new LiveModel();
      await model.attach(member.session);
      return { session: member.session, model };
    };
    const [bob, ada, olly] = [await join('reviewer', 'bob'), await join('admin', 'ada'), await join('operator', 'olly')];
    const agent = await startAgent({ brokerUrl: info.hubUrl!, brokerDid: info.did, name: 'writer' });
    agents.push(agent);
    dirs.push(agent.stateDir, agent.workspace);
    await waitFor('the registration', async () => (await owner.session.call('registrationsList', {})).items.some((r) => r.did === agent.did && r.online));
    await owner.session.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['write_file'], approvalRequired: ['write_file'] } });
    await owner.session.call('grantsCreate', { user: olly.session.user.did, agent: '*', capabilities: ['write_file'], validForMs: 3_600_000 });
    await waitFor('the agent online', () => olly.model.agent(agent.did)?.online && olly.model.agent(agent.did)?.status === 'approved');
    await agent.log.waitFor('auth.succeeded', (l) => l.status === 'approved');

    // olly, an operator, asks for a write nobody but a reviewer may let through.
    const sent = await olly.session.call('intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'withdrawn.txt', content: 'never', mode: 'create' } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    olly.model.noteIntent(sent);
    const approval = await waitFor('the request at every member', () => [olly, bob, ada].every((m) => m.model.approvals().some((a) => a.intentId === sent.id)) && olly.model.approvals().find((a) => a.intentId === sent.id));
    const panels = Object.fromEntries(
      await Promise.all(
        ([['olly', olly], ['bob', bob], ['ada', ada]] as const).map(async ([name, m]) => {
          const posted: ExtensionToWebview[] = [];
          const reports: string[] = [];
          const controller = new ApprovalPanelController(approval.requestId, panelHost(m.session, m.model, approval.requestId, posted, reports));
          await controller.receive({ type: 'ready' });
          return [name, { controller, posted, model: m.model }] as const;
        }),
      ),
    );
    assert.deepEqual(
      ['olly', 'bob', 'ada'].map((n) => lastState(panels[n]!.posted)?.canWithdraw),
      [true, false, true],
      'offered to the requester and an admin, not to a reviewer who did not ask',
    );

    // A reviewer's webview that sends it anyway is refused here: nothing is cancelled.
    await panels.bob!.controller.receive({ type: 'withdraw' });
    assert.match(lastState(panels.bob!.posted)?.error ?? '', /Only the user who asked for this call, or an admin, may withdraw it/);
    assert.equal((await olly.session.call('intentsGet', { id: sent.id })).state, 'sent');

    await panels.olly!.controller.receive({ type: 'withdraw' });
    assert.match(lastState(panels.olly!.posted)?.notice ?? '', /You withdrew this request/);
    assert.equal((await olly.session.call('intentsGet', { id: sent.id })).state, 'cancelled');
    for (const name of ['olly', 'bob', 'ada']) {
      const { controller, posted, model } = panels[name]!;
      await waitFor(`${name}'s panel to say withdrawn`, () => {
        controller.refresh();
        const state = lastState(posted);
        return state?.withdrawn && state.state === 'expired' ? state : undefined;
      });
      assert.equal(panelTitle(model.approval(approval.requestId)!), 'Withdrawn: write_file withdrawn.txt');
      assert.equal(lastState(posted)?.canWithdraw, false, 'nothing left to withdraw');
    }
    const final = await olly.model.waitForFinal(sent.id, { timeoutMs: 20_000 });
    assert.equal(final.state, 'cancelled');
    await agent.log.waitFor('intent.rejected', (l) => l.intentId === sent.id && l.reason === 'cancelled');
  });

  test('the sealed decision names the reviewer and verifies with the reviewer\'s key only', () => {
    const reviewer = generateUserIdentity();
    const other = generateUserIdentity();
    const approval = { requestId: 'a'.repeat(32), intentId: 'b'.repeat(32), agent: `did:vaultys:${'0'.repeat(40)}` };
    const sealed = sealDecision(reviewer, approval, 'reject', '  too broad  ', 1_700_000_000_000);
    const envelope = { payload: new Uint8Array(Buffer.from(sealed.payload, 'base64')), signature: new Uint8Array(Buffer.from(sealed.signature, 'base64')) };
    const opened = open(reviewer.id, 'vaultysclaw/approval-decision/v1', envelope);
    assert.ok(opened.ok);
    assert.deepEqual(ApprovalDecisionBody.parse(opened.body), { ...approval, decision: 'reject', reason: 'too broad', reviewer: reviewer.did, decidedAt: 1_700_000_000_000 });
    const wrong = open(VaultysId.fromBase64(other.id.toBase64()), 'vaultysclaw/approval-decision/v1', envelope);
    assert.equal(wrong.ok, false);
    assert.equal(sealDecision(reviewer, approval, 'approve', '   ').body.reason, null, 'a blank reason is no reason');
  });

  test('a team broker that proves another key is refused, and an unknown user is told to get an invitation', async () => {
    const owner = await connectLocal({ launched, name: 'owner' });
    dirs.push(dirname(owner.dataDir));
    const info = await owner.session.call('brokerInfo', {});
    const impostorPin = `did:vaultys:00${'1'.repeat(38)}`;
    // A user the broker knows (so it answers), pinned to another DID: the user side refuses to go on.
    await assert.rejects(connectTeamBroker(info.hubUrl!, impostorPin, owner.identity, { name: 'owner' }), (err: unknown) => {
      assert.ok(err instanceof PermanentConnectError);
      assert.match(err.message, /is not the pinned broker: .*proved did:vaultys:[0-9a-f]{40}, not the pinned/);
      return true;
    });
    await assert.rejects(connectTeamBroker(info.hubUrl!, info.did, generateUserIdentity(), { name: 'stranger' }), (err: unknown) => {
      assert.ok(err instanceof PermanentConnectError);
      assert.equal(err.remedy, 'enterInvitation');
      assert.match(err.message, /ask an admin for an invitation/);
      return true;
    });
    await assert.rejects(connectTeamBroker('ws://127.0.0.1:1', info.did, generateUserIdentity(), { name: 'x' }), (err: unknown) => {
      assert.ok(!(err instanceof PermanentConnectError), 'an unreachable broker is worth retrying');
      assert.match((err as Error).message, /cannot reach the broker/);
      return true;
    });
    await owner.close();
  });
});
