/**
 * An online agent that never answers (hung, or compromised and silent) must
 * not keep its intents, and their users, waiting for ever: each intent has an
 * answer deadline from what it may legitimately take (expiry + reviewer wait
 * + the capability's own run bound + margin), past which it ends lost-agent.
 * An honest agent slower than expiry + margin but within its command's own
 * timeout still succeeds. And a tool call nobody waits for any more (its
 * intent ended, or its agent's connection closed) leaves the Approvals view at
 * once instead of at its timeout.
 *
 * The broker runs with `--staleness 2 --answer-margin 1`, so a run_command
 * with timeoutMs T must be answered within 2 + T/1000 + 5 + 1 seconds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Notifications } from '../../core/rpc/methods';
import { ApprovalView, type IntentSummary } from '../../core/rpc/views';
import { approve, finalIntent, Fleet } from '../attacks/support/fleet';
import type { HubSocket, RogueAgent } from '../attacks/support/rogue-agent';
import { startAgent, waitFor } from '../support/processes';

const STALENESS_S = 2;
const MARGIN_S = 1;
/** What the agent gets on top of a command's timeoutMs to stop it and sign the failure (core/policy/answer-deadline.ts). */
const COMMAND_REPORT_GRACE_S = 5;
/** How late past its deadline a lost-agent may be seen on a loaded machine (timer, SQLite, RPC round trip). */
const SLACK_MS = 4000;

let fleet: Fleet;
before(async () => {
  fleet = await Fleet.start(['--staleness', String(STALENESS_S), '--answer-margin', String(MARGIN_S), '--approval-timeout', '60']);
});
after(async () => {
  await fleet?.stop();
});

const command = (timeoutMs: number, args: string[] = ['-e', '']) => ({ command: process.execPath, args, cwd: '.', timeoutMs });
const deadlineAfterMs = (timeoutMs: number) => (STALENESS_S + COMMAND_REPORT_GRACE_S + MARGIN_S) * 1000 + timeoutMs;

async function dispatch(agent: string, params: Record<string, unknown>): Promise<IntentSummary> {
  const sent = await fleet.call('intentsDispatch', { agent, capability: 'run_command', params });
  assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
  return sent;
}

describe('an online agent that never answers', () => {
  test('its intent ends lost-agent at the answer deadline, not before, on the connection it was sent on and on the one it came back on; a later signed result is kept as a late result', async () => {
    const { rogue, hub } = await fleet.approvedRogue('silent', { capabilities: ['run_command'] });
    const first = await dispatch(rogue.did, command(1000));
    await hub.next('intent');
    // The rogue goes and comes back well within the grace period (30 s): the intent is resent, and it still never answers.
    hub.close();
    await waitFor('the broker to see the rogue go', async () => !(await fleet.call('agentsGet', { did: rogue.did })).online);
    const back = await rogue.authenticate();
    assert.equal(rogue.openIntent((await back.hub.next('intent')).envelope, back.handshake.certificate.responder).id, first.id, 'resent on the new connection');
    const second = await dispatch(rogue.did, command(2000));
    await back.hub.next('intent');

    const [lostFirst, lostSecond] = await Promise.all([
      finalIntent(fleet.broker, first.id, deadlineAfterMs(1000) + SLACK_MS),
      finalIntent(fleet.broker, second.id, deadlineAfterMs(2000) + SLACK_MS),
    ]);
    for (const [lost, timeoutMs] of [[lostFirst, 1000], [lostSecond, 2000]] as const) {
      assert.equal(lost.state, 'lost-agent');
      assert.match(lost.message ?? '', /the agent did not answer in time/);
      const took = lost.updatedAt - lost.createdAt;
      assert.ok(took >= deadlineAfterMs(timeoutMs), `ended after ${took} ms, before its deadline of ${deadlineAfterMs(timeoutMs)} ms`);
      assert.ok(took <= deadlineAfterMs(timeoutMs) + SLACK_MS, `ended ${took} ms after dispatch`);
      await fleet.broker.log.waitFor('intent.lost', (l) => l.intentId === lost.id && l.reason === 'answer-deadline');
    }
    assert.ok((await fleet.call('agentsGet', { did: rogue.did })).online, 'the deadline ended intents of an agent that was online all along');

    back.hub.send({ type: 'result', envelope: rogue.result({ intentId: second.id, outcome: 'succeeded', reason: null, message: 'too late', output: { exitCode: 0 } }) });
    assert.equal((await back.hub.next('result/ack')).intentId, second.id);
    await fleet.broker.log.waitFor('intent.late-result', (l) => l.intentId === second.id);
    const late = await fleet.call('intentsGet', { id: second.id });
    assert.deepEqual([late.state, late.outcome, late.message], ['lost-agent', 'succeeded', 'too late']);
    back.hub.close();
  });

  test('an honest command slower than expiry + margin but within its own timeout succeeds', async () => {
    const agent = fleet.track(await startRunner());
    const slowMs = (STALENESS_S + MARGIN_S + 1) * 1000;
    const sent = await dispatch(agent.did, command(slowMs + 4000, ['-e', `setTimeout(() => console.log('slept'), ${slowMs})`]));
    const done = await finalIntent(fleet.broker, sent.id, deadlineAfterMs(slowMs + 4000) + SLACK_MS);
    assert.equal(done.state, 'succeeded', `${done.state} ${done.message}`);
    assert.ok(done.updatedAt - done.createdAt >= slowMs, 'the command really ran past expiry + margin');
    assert.match(String(done.output?.stdout), /slept/);
  });
});

describe('an approval nobody waits for any more', () => {
  /** The rogue asks for a reviewer on the intent it was sent, as an honest agent would. */
  async function pausedCall(name: string): Promise<{ rogue: RogueAgent; hub: HubSocket; intent: IntentSummary; requestId: string }> {
    const { rogue, hub, handshake } = await fleet.approvedRogue(name, { capabilities: ['run_command'], approvalRequired: ['run_command'] });
    const intent = await dispatch(rogue.did, command(1000));
    const request = rogue.approvalRequest(rogue.openIntent((await hub.next('intent')).envelope, handshake.certificate.responder), handshake.policy);
    hub.send({ type: 'approval/request', envelope: request.envelope });
    await waitFor('the request pending', async () => (await fleet.call('approvalsList', { state: 'pending' })).items.some((a) => a.requestId === request.requestId));
    return { rogue, hub, intent, requestId: request.requestId };
  }

  /** Approval changes the broker notifies its clients of (what the extension's Approvals view follows). */
  function notified(): { seen: ApprovalView[]; dispose(): void } {
    const seen: ApprovalView[] = [];
    const subscription = fleet.broker.client.connection.onNotification(Notifications.approvalChanged.method, (raw: unknown) => {
      seen.push(ApprovalView.parse((raw as { approval: unknown }).approval));
    });
    return { seen, dispose: () => subscription.dispose() };
  }

  async function assertCancelled(requestId: string, why: RegExp, notifications: ApprovalView[]): Promise<void> {
    const view = await waitFor('the request to end', async () => {
      const a = (await fleet.call('approvalsList', {})).items.find((x) => x.requestId === requestId);
      return a?.state !== 'pending' ? a : undefined;
    });
    assert.equal(view?.state, 'expired');
    assert.match(view?.reason ?? '', why);
    assert.ok(view!.decidedAt! < view!.expiresAt - 50_000, 'ended at once, not at its 60 s timeout');
    await waitFor('the change notified', () => notifications.find((a) => a.requestId === requestId && a.state === 'expired'));
    await fleet.broker.log.waitFor('approval.cancelled', (l) => l.requestId === requestId);
  }

  test('its intent ended (the agent answered it): the pending request expires at once, notified and audited', async () => {
    const notifications = notified();
    const { rogue, hub, intent, requestId } = await pausedCall('gives-up');
    hub.send({ type: 'result', envelope: rogue.result({ intentId: intent.id, outcome: 'rejected', reason: 'approval-expired', message: 'gave up waiting', output: null }) });
    await hub.next('result/ack');
    await assertCancelled(requestId, /cancelled: its intent ended rejected/, notifications.seen);
    notifications.dispose();
    hub.close();
  });

  test('the connection it was asked on closed (the agent drops its waiting calls then): it expires at once, while the intent waits for the agent to come back', async () => {
    const notifications = notified();
    const { hub, intent, requestId } = await pausedCall('drops-off');
    hub.close();
    await assertCancelled(requestId, /cancelled: the agent dropped the tool call when its connection closed/, notifications.seen);
    assert.equal((await fleet.call('intentsGet', { id: intent.id })).state, 'sent', 'the intent itself is still within its grace period');
    notifications.dispose();
  });
});

async function startRunner() {
  const agent = await startAgent({ brokerUrl: fleet.broker.url, brokerDid: fleet.broker.did, name: 'slow-runner', request: 'run_command' });
  await approve(fleet.broker, agent, ['run_command']);
  return agent;
}
