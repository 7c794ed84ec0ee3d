// End to end: cancelling an intent (issue 17) on real broker and agent processes. A cancelled running command is
// killed (its processes gone, inside the agent's sandbox) and its intent ends cancelled with the agent's signed
// answer kept; a cancelled call waiting for a reviewer never runs, whatever the reviewer decides after; only the
// requester or an admin may cancel; a final intent cannot be cancelled again.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeCanonical, IdType, open, SecretIdentity } from '../../core/identity';
import { INTENT_CANCEL_CONTEXT, IntentCancelBody } from '../../core/wire/intent-cancel';
import { RogueAgent } from '../attacks/support/rogue-agent';
import { RpcErrorCode } from '../../core/rpc/methods';
import type { IntentDetail } from '../../core/rpc/views';
import { ResultBody } from '../../core/wire/intent';
import { auditLines, call, decisionParams, expectRpcError, joinAs, ownerOf, pendingApproval, rpcError, type Member } from '../attacks/support/team';
import { processesWith } from '../support/host-processes';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();

let broker: BrokerProcess;
let agent: AgentProcess;
let owner: Member;
let alice: Member; // operator: dispatches
let bob: Member; // another operator
let vic: Member; // viewer
let ada: Member; // admin
let rita: Member; // reviewer

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  [alice, bob, vic, ada, rita] = await Promise.all([
    joinAs(broker, owner, 'operator', 'alice'),
    joinAs(broker, owner, 'operator', 'bob'),
    joinAs(broker, owner, 'viewer', 'vic'),
    joinAs(broker, owner, 'admin', 'ada'),
    joinAs(broker, owner, 'reviewer', 'rita'),
  ]);
  for (const user of [alice, bob]) await call(owner, 'grantsCreate', { user: user.did, agent: '*', capabilities: ['run_command', 'write_file'], validForMs: 60 * 60_000 });
  agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'run_command,write_file' });
  await waitFor('the agent pending and online', async () => (await call(owner, 'registrationsList', {})).items.find((r) => r.did === agent.did && r.online));
  await call(owner, 'registrationsApprove', { did: agent.did, policy: { capabilities: ['run_command', 'write_file'], approvalRequired: ['write_file'] } });
  await agent.log.waitFor('auth.succeeded', (l) => l.status === 'approved');
});

after(() => started.cleanup());

/** A command that runs until killed, writing a tick a few times a second; `marker` is in each of its processes' command lines. */
function ticker(marker: string) {
  return { command: 'sh', args: ['-c', `sleep 300.${marker} & while :; do echo tick >> ticks-${marker}.txt; sleep 0.1; done`, `ticker-${marker}`], cwd: '.', timeoutMs: 120_000 };
}

/** The agent's signed answer, as the broker kept it (it verified the signature against the agent's connection key). */
function signedAnswer(detail: IntentDetail): ResultBody {
  assert.ok(detail.signedResult, 'the agent\'s signed result is recorded');
  const decoded = decodeCanonical(new Uint8Array(Buffer.from(detail.signedResult.payload, 'base64')));
  assert.ok(decoded.ok);
  const value = decoded.value as { ctx: string; body: unknown };
  assert.equal(value.ctx, 'vaultysclaw/result/v1');
  return ResultBody.parse(value.body);
}

/** An intent of `by` paused on the agent for a reviewer (write_file needs one). */
async function waitingWrite(by: Member, path: string): Promise<string> {
  const sent = await call(by, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path, content: 'should never be written', mode: 'create' } });
  assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
  return (await pendingApproval(owner, sent.id)).intentId;
}

describe('cancel', () => {
  test('a running command is killed (its processes gone) and its intent ends cancelled with the agent\'s signed answer', async () => {
    const marker = String(randomInt(1e8, 1e9));
    const sent = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'run_command', params: ticker(marker) });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    const ticks = join(agent.workspace, `ticks-${marker}.txt`);
    await waitFor('the command running on the agent', () => processesWith(marker).length >= 2 && existsSync(ticks), 20_000);

    // Nobody else's word stops it: not another operator, not a viewer (refused by role), not a reviewer.
    await expectRpcError(call(bob, 'intentsCancel', { id: sent.id }), RpcErrorCode.Forbidden, /only the user who dispatched an intent, or an admin/);
    await expectRpcError(call(vic, 'intentsCancel', { id: sent.id }), RpcErrorCode.Forbidden, /role viewer may not call vaultysclaw\/intents\/cancel/);
    await expectRpcError(call(rita, 'intentsCancel', { id: sent.id }), RpcErrorCode.Forbidden, /role reviewer may not call/);
    assert.ok(processesWith(marker).length >= 2, 'refused cancels stopped nothing');

    const cancelled = await call(alice, 'intentsCancel', { id: sent.id });
    assert.deepEqual([cancelled.state, cancelled.reason], ['cancelled', 'cancelled']);
    await waitFor('every process of the command gone', () => processesWith(marker).length === 0, 15_000);
    const size = statSync(ticks).size;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(statSync(ticks).size, size, 'nothing writes ticks any more');

    const detail = await waitFor('the agent\'s signed answer kept', async () => {
      const d = await call(owner, 'intentsGet', { id: sent.id });
      return d.signedResult ? d : undefined;
    });
    assert.equal(detail.state, 'cancelled', 'the agent\'s answer does not change the final state');
    const answer = signedAnswer(detail);
    assert.deepEqual([answer.intentId, answer.agent, answer.outcome, answer.reason], [sent.id, agent.did, 'failed', 'cancelled']);
    assert.match(answer.message, new RegExp(`cancelled by ${alice.did}; the tool was stopped`));
    assert.equal((answer.output as { aborted?: boolean } | null)?.aborted, true, 'the command\'s output says it was aborted');

    await expectRpcError(call(alice, 'intentsCancel', { id: sent.id }), RpcErrorCode.Conflict, /already ended cancelled; there is nothing to cancel/);
    const lines = auditLines(broker.dataDir).filter((l) => l.event === 'intent.cancelled' && l.intentId === sent.id);
    assert.deepEqual(lines.map((l) => [l.by, l.user, l.agentTold]), [[alice.did, alice.did, true]]);
    assert.ok(auditLines(broker.dataDir).some((l) => l.event === 'rpc.refused' && l.did === bob.did && l.reason === 'forbidden'), 'the refused cancel is audited');
  });

  test('a call waiting for a reviewer is dropped and never runs, even when a reviewer approves it after the cancel', async () => {
    const path = `never-${randomInt(1e8, 1e9)}.txt`;
    const id = await waitingWrite(alice, path);
    const approval = await pendingApproval(owner, id);
    const cancelled = await call(alice, 'intentsCancel', { id });
    assert.equal(cancelled.state, 'cancelled');
    await waitFor('its approval request ended', async () => (await call(owner, 'approvalsGet', { requestId: approval.requestId })).state !== 'pending');
    const late = await rpcError(call(rita, 'approvalsDecide', decisionParams(rita.identity, approval, 'approve')), 'an approval after the cancel');
    assert.match(late.message, /not pending|expired|cancelled/i);

    const detail = await waitFor('the agent\'s signed answer kept', async () => {
      const d = await call(owner, 'intentsGet', { id });
      return d.signedResult ? d : undefined;
    });
    const answer = signedAnswer(detail);
    assert.deepEqual([detail.state, answer.outcome, answer.reason], ['cancelled', 'rejected', 'cancelled']);
    assert.match(answer.message, /while it waited for a reviewer; it did not run/);
    assert.equal(existsSync(join(agent.workspace, path)), false, 'nothing was written');
    await agent.log.waitFor('intent.rejected', (l) => l.intentId === id && l.reason === 'cancelled');
  });

  test('an admin may cancel the intent of another user; the audit line names both', async () => {
    const id = await waitingWrite(bob, `admin-${randomInt(1e8, 1e9)}.txt`);
    const cancelled = await call(ada, 'intentsCancel', { id });
    assert.equal(cancelled.state, 'cancelled');
    assert.match(cancelled.message ?? '', new RegExp(`cancelled by ${ada.did}`));
    const line = await waitFor('the audit line', () => auditLines(broker.dataDir).find((l) => l.event === 'intent.cancelled' && l.intentId === id));
    assert.deepEqual([line.by, line.user, line.role], [ada.did, bob.did, 'admin']);
  });

  test('an intent already final cannot be cancelled: a conflict that says so', async () => {
    const sent = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'run_command', params: { command: 'true', args: [], cwd: '.', timeoutMs: 10_000 } });
    const done = await waitFor('the command done', async () => {
      const d = await call(alice, 'intentsGet', { id: sent.id });
      return d.state === 'succeeded' ? d : undefined;
    }, 20_000);
    assert.equal(done.state, 'succeeded');
    await expectRpcError(call(alice, 'intentsCancel', { id: sent.id }), RpcErrorCode.Conflict, /already ended succeeded; there is nothing to cancel/);
    await expectRpcError(call(alice, 'intentsCancel', { id: 'f'.repeat(32) }), RpcErrorCode.NotFound, /not found/);
    assert.equal((await call(alice, 'intentsGet', { id: sent.id })).state, 'succeeded');
  });
  test('the cancel frame is sent signed to agents from 0.4.0 on, and not to an older one (its strict decoder would drop the connection): its intent still ends cancelled and its late answer is kept', async () => {
    for (const agentVersion of ['0.4.0', '0.3.0']) {
      const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: `agent-${agentVersion}`, requested: ['read_file'], agentVersion });
      const { hub } = await rogue.authenticate();
      try {
        await call(owner, 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['read_file'] } });
        await hub.next('update_capabilities');
        const { handshake } = await rogue.authenticate(hub);
        const sent = await call(owner, 'intentsDispatch', { agent: rogue.did, capability: 'read_file', params: { path: 'a.txt' } });
        const intent = rogue.openIntent((await hub.next('intent')).envelope, handshake.certificate.responder);
        await call(owner, 'intentsCancel', { id: intent.id });
        if (agentVersion === '0.4.0') {
          const frame = await hub.next('intent/cancel');
          const opened = open(handshake.certificate.responder, INTENT_CANCEL_CONTEXT, frame.envelope);
          assert.ok(opened.ok, 'signed by the broker the agent authenticated, under its own context');
          const body = IntentCancelBody.parse(opened.body);
          assert.deepEqual([body.intentId, body.agent, body.cancelledBy], [intent.id, rogue.did, owner.did]);
        } else {
          await assert.rejects(hub.next('intent/cancel', () => true, 1500), /timed out after 1500 ms waiting for a intent\/cancel frame/, 'an older agent is not sent the frame');
        }
        const told = auditLines(broker.dataDir).find((l) => l.event === 'intent.cancelled' && l.intentId === sent.id);
        assert.equal(told?.agentTold, agentVersion === '0.4.0');
        // The agent answers anyway (the older one ran it): kept, the final state unchanged.
        hub.send({ type: 'result', envelope: rogue.result({ intentId: intent.id, outcome: 'succeeded', reason: null, message: 'done', output: { content: 'a' } }) });
        await hub.next('result/ack', (f) => f.intentId === intent.id);
        const detail = await call(owner, 'intentsGet', { id: intent.id });
        assert.deepEqual([detail.state, detail.outcome, Boolean(detail.signedResult)], ['cancelled', 'succeeded', true]);
      } finally {
        hub.close();
      }
    }
  });
});
