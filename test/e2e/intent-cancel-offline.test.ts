// End to end: a cancel that comes while its agent is offline (issue 17). The broker ends the intent cancelled at
// once and keeps the cancel in SQLite; when the agent reconnects (even to a broker restarted meanwhile) it gets the
// cancel signed afresh, never the cancelled intent itself, and stops what it still holds; its answer is kept as a late
// result under the final `cancelled`. Kept cancels are bounded: BUDGETS.pendingCancelsPerAgent per agent, each re-sent
// at most BUDGETS.intentResends times.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { IdType, open, SecretIdentity } from '../../core/identity';
import { BUDGETS } from '../../core/budgets';
import { INTENT_CANCEL_CONTEXT, IntentCancelBody } from '../../core/wire/intent-cancel';
import { RogueAgent, type HubSocket } from '../attacks/support/rogue-agent';
import { auditLines, call, ownerOf, pendingApproval } from '../attacks/support/team';
import { processesWith } from '../support/host-processes';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();
after(() => started.cleanup());

const audited = (broker: BrokerProcess, event: string, intentId: string) => auditLines(broker.dataDir).filter((l) => l.event === event && l.intentId === intentId);

async function offline(broker: BrokerProcess, did: string): Promise<void> {
  await waitFor('the broker to see the agent offline', async () => (await call(broker.client, 'agentsList', {})).items.some((a) => a.did === did && !a.online), 15_000);
}

/** The broker stopped and started again on the same data directory and port (the agent's URL). */
async function restart(broker: BrokerProcess): Promise<BrokerProcess> {
  await broker.kill();
  return started.broker({ dataDir: broker.dataDir, port: Number(new URL(broker.url).port) });
}

describe('a cancel reaches an agent that was offline when it came', () => {
  test('killed while its call waits for a reviewer: the restarted agent is sent the signed cancel (not the intent), the intent stays cancelled, its interrupted answer is kept late, and an answered cancel is not sent again', async () => {
    const broker = await started.broker();
    const owner = ownerOf(broker);
    let agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'write_file' });
    await waitFor('the agent pending', async () => (await call(owner, 'registrationsList', {})).items.find((r) => r.did === agent.did && r.online));
    await call(owner, 'registrationsApprove', { did: agent.did, policy: { capabilities: ['write_file'], approvalRequired: ['write_file'] } });
    await agent.log.waitFor('auth.succeeded', (l) => l.status === 'approved');
    const path = `never-${randomInt(1e8, 1e9)}.txt`;
    const sent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path, content: 'must never be written', mode: 'create' } });
    const approval = await pendingApproval(owner, sent.id);

    await agent.kill();
    await offline(broker, agent.did);
    const cancelled = await call(owner, 'intentsCancel', { id: sent.id });
    assert.equal(cancelled.state, 'cancelled');
    assert.deepEqual(audited(broker, 'intent.cancelled', sent.id).map((l) => l.agentTold), [false], 'nobody to tell while it is away');
    await waitFor('its approval request ended', async () => (await call(owner, 'approvalsGet', { requestId: approval.requestId })).state !== 'pending');

    const restarted: AgentProcess = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: agent.stateDir, workspace: agent.workspace, request: 'write_file' });
    agent = restarted;
    await waitFor('the cancel signed again to the new connection', () => audited(broker, 'intent.cancel-resent', sent.id)[0]);
    // What the agent made of it: it no longer holds the call (the kill dropped it), and says the call ended interrupted.
    await agent.log.waitFor('cancel.ignored', (l) => l.intentId === sent.id);
    await agent.log.waitFor('intent.interrupted', (l) => l.intentId === sent.id);
    const detail = await waitFor('its answer kept as a late result', async () => {
      const d = await call(owner, 'intentsGet', { id: sent.id });
      return d.signedResult ? d : undefined;
    });
    assert.deepEqual([detail.state, detail.outcome], ['cancelled', 'failed'], 'the late answer does not change the final state');
    assert.match(detail.message ?? '', /stopped while it held this intent/);
    await waitFor('the late result audited', () => audited(broker, 'intent.late-result', sent.id)[0]);
    assert.deepEqual(audited(broker, 'intent.resent', sent.id), [], 'the cancelled intent itself is never sent again');
    assert.equal(existsSync(join(agent.workspace, path)), false, 'nothing was written');

    // Answered now: the next reconnect is not told again.
    await agent.kill();
    await offline(broker, agent.did);
    agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: agent.stateDir, workspace: agent.workspace, request: 'write_file' });
    await agent.log.waitFor('auth.succeeded', (l) => l.status === 'approved');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(audited(broker, 'intent.cancel-resent', sent.id).length, 1, 'an answered cancel is forgotten');
    assert.equal((await call(owner, 'intentsGet', { id: sent.id })).state, 'cancelled');
  });

  test('cut off while its command runs, across two broker restarts: the cancel kept in SQLite reaches the agent when it comes back, the command is killed, and its signed answer is kept late', async () => {
    let broker = await started.broker();
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'run_command' });
    await waitFor('the agent pending', async () => (await call(broker.client, 'registrationsList', {})).items.find((r) => r.did === agent.did && r.online));
    await call(broker.client, 'registrationsApprove', { did: agent.did, policy: { capabilities: ['run_command'] } });
    await agent.log.waitFor('auth.succeeded', (l) => l.status === 'approved');
    const marker = String(randomInt(1e8, 1e9));
    const sent = await call(broker.client, 'intentsDispatch', {
      agent: agent.did,
      capability: 'run_command',
      params: { command: 'sh', args: ['-c', `sleep 300.${marker} & wait`, `sleeper-${marker}`], cwd: '.', timeoutMs: 120_000 },
    });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    await waitFor('the command running on the agent', () => processesWith(marker).length >= 2, 20_000);

    // The agent frozen (its command runs on), the broker gone and back: the agent is offline when the cancel comes.
    process.kill(agent.child.pid!, 'SIGSTOP');
    try {
      broker = await restart(broker);
      await offline(broker, agent.did);
      const cancelled = await call(broker.client, 'intentsCancel', { id: sent.id });
      assert.equal(cancelled.state, 'cancelled');
      assert.deepEqual(audited(broker, 'intent.cancelled', sent.id).map((l) => l.agentTold), [false]);
      // A restart between the cancel and the reconnect must not lose it.
      broker = await restart(broker);
      assert.ok(processesWith(marker).length >= 2, 'the command still runs while its agent is away');
    } finally {
      process.kill(agent.child.pid!, 'SIGCONT');
    }

    await waitFor('the cancel signed again to the agent\'s new connection', () => audited(broker, 'intent.cancel-resent', sent.id)[0], 30_000);
    await agent.log.waitFor('intent.cancelling', (l) => l.intentId === sent.id, 15_000);
    await waitFor('every process of the command gone', () => processesWith(marker).length === 0, 15_000);
    const detail = await waitFor('the agent\'s signed answer kept late', async () => {
      const d = await call(broker.client, 'intentsGet', { id: sent.id });
      return d.signedResult ? d : undefined;
    }, 15_000);
    assert.deepEqual([detail.state, detail.outcome, detail.reason], ['cancelled', 'failed', 'cancelled']);
    assert.match(detail.message ?? '', /the tool was stopped/);
    assert.deepEqual(audited(broker, 'intent.resent', sent.id), [], 'the cancelled intent itself is never sent again');
  });
});

describe('kept cancels are bounded', () => {
  /** A 0.4.0 agent (it reads cancel frames) on the broker, approved for list_files, and a way to put it online again. */
  async function rogueOn(broker: BrokerProcess) {
    const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: `rogue-${randomInt(1e6)}`, requested: ['list_files'], agentVersion: '0.4.0' });
    const { hub } = await rogue.authenticate();
    await call(broker.client, 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['list_files'], maxRequestsPerHour: 1000 } });
    await hub.next('update_capabilities');
    await rogue.authenticate(hub);
    return { rogue, hub };
  }

  /** Every cancel frame the broker sends a new connection of `rogue` within a moment, checked as the agent would check it. */
  async function cancelsOnReconnect(rogue: RogueAgent): Promise<{ hub: HubSocket; ids: string[] }> {
    const { hub, handshake } = await rogue.authenticate();
    await new Promise((r) => setTimeout(r, 1500));
    const ids: string[] = [];
    for (const frame of hub.frames.splice(0)) {
      assert.notEqual(frame.type, 'intent', 'a cancelled intent is never sent again');
      if (frame.type !== 'intent/cancel') continue;
      const opened = open(handshake.certificate.responder, INTENT_CANCEL_CONTEXT, frame.envelope);
      assert.ok(opened.ok, 'signed by the broker, under the cancel context');
      const body = IntentCancelBody.parse(opened.body);
      assert.equal(body.agent, rogue.did);
      assert.ok(Date.now() - body.at < 10_000, 'signed afresh, not the cancel of long ago');
      ids.push(body.intentId);
    }
    return { hub, ids };
  }

  test(`BUDGETS.pendingCancelsPerAgent: ${BUDGETS.pendingCancelsPerAgent.limit} unanswered cancels are all kept; one more drops the oldest (audited)`, async () => {
    const broker = await started.broker();
    const { rogue, hub } = await rogueOn(broker);
    const limit = BUDGETS.pendingCancelsPerAgent.limit;
    const ids: string[] = [];
    for (let i = 0; i <= limit; i++) ids.push((await call(broker.client, 'intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: `d${i}` } })).id);
    hub.close();
    await offline(broker, rogue.did);
    for (const id of ids.slice(0, limit)) assert.equal((await call(broker.client, 'intentsCancel', { id })).state, 'cancelled');
    const dropped = () => auditLines(broker.dataDir).filter((l) => l.event === 'intent.cancel-dropped');
    assert.deepEqual(dropped(), [], 'at the bound nothing is dropped');
    await call(broker.client, 'intentsCancel', { id: ids[limit]! });
    assert.deepEqual(dropped().map((l) => [l.intentId, l.reason]), [[ids[0], 'agent-budget']], 'one past it, the oldest goes');

    const back = await cancelsOnReconnect(rogue);
    assert.deepEqual(back.ids.sort(), ids.slice(1).sort(), 'the kept ones, each once');
    back.hub.close();
    for (const id of ids) assert.equal((await call(broker.client, 'intentsGet', { id })).state, 'cancelled');
  });

  test(`BUDGETS.intentResends: an unanswered cancel is re-sent at ${BUDGETS.intentResends.limit} reconnects and given up at the next; an answered one is not re-sent`, async () => {
    const broker = await started.broker();
    const { rogue, hub } = await rogueOn(broker);
    const [silent, answered] = [
      (await call(broker.client, 'intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: 'a' } })).id,
      (await call(broker.client, 'intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: 'b' } })).id,
    ];
    hub.close();
    await offline(broker, rogue.did);
    for (const id of [silent, answered]) await call(broker.client, 'intentsCancel', { id });

    for (let reconnect = 1; reconnect <= BUDGETS.intentResends.limit; reconnect++) {
      const back = await cancelsOnReconnect(rogue);
      assert.deepEqual(back.ids.sort(), (reconnect === 1 ? [silent, answered] : [silent]).sort(), `reconnect ${reconnect}`);
      if (reconnect === 1) {
        back.hub.send({ type: 'result', envelope: rogue.result({ intentId: answered, outcome: 'rejected', reason: 'cancelled', message: 'cancelled before it ran', output: null }) });
        await back.hub.next('result/ack', (f) => f.intentId === answered);
      }
      back.hub.close();
      await offline(broker, rogue.did);
    }
    const last = await cancelsOnReconnect(rogue);
    assert.deepEqual(last.ids, [], `not sent a ${BUDGETS.intentResends.limit + 1}th time`);
    last.hub.close();
    assert.deepEqual(auditLines(broker.dataDir).filter((l) => l.event === 'intent.cancel-dropped').map((l) => [l.intentId, l.reason]), [[silent, 'resend-limit']]);
    const [s, a] = await Promise.all([silent, answered].map((id) => call(broker.client, 'intentsGet', { id })));
    assert.deepEqual([s!.state, a!.state, a!.outcome], ['cancelled', 'cancelled', 'rejected']);
  });
});
