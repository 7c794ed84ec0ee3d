/**
 * Threat: whoever can put a frame on the agent's connection (a stranger on the path, a compromised peer) stops a
 * user's work, or replays a cancel it saw. The real IntentRunner (real stores, a real command running unconfined
 * in a temp workspace) obeys only a cancel the pinned broker signed for this agent, for this intent, recently;
 * every other one is refused with its reason and the command keeps running.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { IdType, seal, SecretIdentity, type SealedEnvelope } from '../../core/identity';
import { INTENT_CANCEL_CONTEXT, type IntentCancelBody } from '../../core/wire/intent-cancel';
import { killProcesses, processesWith } from '../support/host-processes';
import { waitFor } from '../support/processes';
import { policy, RunnerHarness, SKEW_MS, STALENESS_MS } from './support/runner-harness';

const harnesses: RunnerHarness[] = [];
const markers: string[] = [];
after(() => {
  for (const marker of markers) killProcesses(processesWith(marker));
  for (const h of harnesses) h.cleanup();
});

function harness(): RunnerHarness {
  const h = new RunnerHarness(policy({ capabilities: ['run_command', 'write_file'], approvalRequired: ['write_file'] }));
  harnesses.push(h);
  return h;
}

/** Starts a command that runs until killed; resolves once its process is up. */
async function startSleeper(h: RunnerHarness): Promise<{ id: string; marker: string; done: Promise<void> }> {
  const marker = String(randomInt(1e8, 1e9));
  markers.push(marker);
  const intent = h.intent({ capability: 'run_command', params: { command: 'sleep', args: [`300.${marker}`], cwd: '.', timeoutMs: 120_000 } });
  const done = h.runner.handle(h.seal(intent), h.session);
  await waitFor(`sleep 300.${marker} running`, () => processesWith(marker).length > 0, 10_000);
  return { id: intent.id, marker, done };
}

function cancelOf(h: RunnerHarness, over: Partial<IntentCancelBody> & { intentId: string }, signer: SecretIdentity = h.broker): SealedEnvelope {
  return seal(signer, INTENT_CANCEL_CONTEXT, { agent: h.agent.did, cancelledBy: h.user.did, at: h.clock, ...over });
}

/** Hands a cancel to the runner and returns what it logged about it. */
function offer(h: RunnerHarness, envelope: SealedEnvelope): Record<string, unknown> {
  const before = h.logs.length;
  h.runner.onCancel(envelope, h.session);
  const line = h.logs.slice(before).find((l) => typeof l.event === 'string' && /^cancel\.|^intent\.cancelling$/.test(l.event));
  assert.ok(line, 'the runner logs what it made of the cancel');
  return line;
}

test('forged, unsigned, wrong-context, wrong-agent, stale and future cancels are refused with their reason; the command keeps running', async () => {
  const h = harness();
  const { id, marker, done } = await startSleeper(h);
  const stranger = SecretIdentity.generate(IdType.Machine);
  const genuine = cancelOf(h, { intentId: id });
  const cases: [string, SealedEnvelope, string][] = [
    ['signed by a stranger', cancelOf(h, { intentId: id }, stranger), 'bad-signature'],
    ['unsigned (a signature of zeros)', { payload: genuine.payload, signature: new Uint8Array(genuine.signature.length) }, 'bad-signature'],
    ['an intent signature passed off as a cancel', seal(h.broker, 'vaultysclaw/intent/v1', { intentId: id, agent: h.agent.did, cancelledBy: h.user.did, at: h.clock }), 'wrong-context'],
    ['addressed to another agent', cancelOf(h, { intentId: id, agent: stranger.did }), 'wrong-agent'],
    ['signed before the staleness window (a replay of an old cancel)', cancelOf(h, { intentId: id, at: h.clock - STALENESS_MS - SKEW_MS - 1 }), 'stale'],
    ['signed in the future', cancelOf(h, { intentId: id, at: h.clock + SKEW_MS + 1 }), 'from-future'],
    ['a body that is not a cancel', seal(h.broker, INTENT_CANCEL_CONTEXT, { intentId: id, agent: h.agent.did }), 'malformed'],
  ];
  for (const [what, envelope, reason] of cases) {
    const line = offer(h, envelope);
    assert.deepEqual([line.event, line.reason], ['cancel.refused', reason], what);
  }
  assert.ok(processesWith(marker).length > 0, 'no refused cancel stopped the command');
  assert.equal(h.frames.filter((f) => f.type === 'result').length, 0, 'and none answered the intent');

  // At the edge of the window it is obeyed.
  const line = offer(h, cancelOf(h, { intentId: id, at: h.clock - STALENESS_MS - SKEW_MS }));
  assert.equal(line.event, 'intent.cancelling');
  await done;
  await waitFor('the command gone', () => processesWith(marker).length === 0, 10_000);
  const results = h.frames.flatMap((f) => (f.type === 'result' ? [h.verifyResult(f.envelope)] : []));
  assert.deepEqual(results.map((r) => [r.intentId, r.outcome, r.reason]), [[id, 'failed', 'cancelled']]);
  assert.match(results[0]!.message, new RegExp(`cancelled by ${h.user.did}; the tool was stopped`));

  // Replayed once the intent is answered: nothing to stop, nothing sent.
  assert.equal(offer(h, genuine).event, 'cancel.ignored');
  assert.equal(h.frames.filter((f) => f.type === 'result').length, 1);
});

test('a cancel stops only the intent it names: another command of the same agent keeps running', async () => {
  const h = harness();
  const first = await startSleeper(h);
  const second = await startSleeper(h);
  assert.equal(offer(h, cancelOf(h, { intentId: first.id })).event, 'intent.cancelling');
  await first.done;
  await waitFor('the first command gone', () => processesWith(first.marker).length === 0, 10_000);
  assert.ok(processesWith(second.marker).length > 0, 'the second still runs');
  assert.equal(offer(h, cancelOf(h, { intentId: second.id })).event, 'intent.cancelling');
  await second.done;
  await waitFor('the second command gone', () => processesWith(second.marker).length === 0, 10_000);
});

test('a call waiting for a reviewer is dropped by its cancel, and a reviewer\'s approval after it runs nothing', async () => {
  const h = harness();
  const intent = h.intent({ capability: 'write_file', params: { path: 'cancelled.txt', content: 'no', mode: 'create' } });
  const done = h.runner.handle(h.seal(intent), h.session);
  const request = await waitFor('the approval request', () => h.approvalRequests().find((r) => r.intentId === intent.id));
  assert.equal(offer(h, cancelOf(h, { intentId: intent.id })).event, 'intent.cancelling');
  await done;
  h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
  const refused = h.logs.find((l) => l.event === 'approval.refused');
  assert.match(String(refused?.detail), /no tool call is waiting/);
  const results = h.frames.flatMap((f) => (f.type === 'result' ? [h.verifyResult(f.envelope)] : []));
  assert.deepEqual(results.map((r) => [r.outcome, r.reason]), [['rejected', 'cancelled']]);
  assert.equal(h.executedCount(), 0, 'never counted as executed');
  assert.equal(existsSync(join(h.workspace, 'cancelled.txt')), false, 'nothing written');
});
