/**
 * A kept result the broker definitively refuses as unknown-intent (its
 * database was reset, say) must not be resent at every handshake for ever:
 * the refusal names the intent, and the agent drops that result, saying so in
 * its log. An agent older than 0.2.0 would drop its connection over a field it
 * does not know, so it gets the refusal as before, without the id.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { IdType, SecretIdentity } from '../../core/identity';
import { approve, finalIntent } from '../attacks/support/fleet';
import { RogueAgent } from '../attacks/support/rogue-agent';
import { waitFor } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen(40_000);
const started = new Started();
after(() => started.cleanup());

describe('a result the broker does not know', () => {
  test('the refusal names the intent for agents from 0.2.0, and keeps the frame an older agent reads', async () => {
    const broker = await started.broker();
    const refusalTo = async (agentVersion: string) => {
      const agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: `v${agentVersion}`, requested: ['list_files'], agentVersion });
      const first = await agent.authenticate();
      // Approved and renewed, as an agent answering intents is: a pending one may send only a few results.
      await broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['list_files'] } });
      await first.hub.next('update_capabilities');
      const { hub } = await agent.authenticate(first.hub);
      const intentId = randomBytes(16).toString('hex');
      hub.send({ type: 'result', envelope: agent.result({ intentId, outcome: 'succeeded', reason: null, message: 'never asked', output: null }) });
      const refusal = await hub.next('error');
      hub.close();
      return { intentId, refusal };
    };
    const current = await refusalTo('0.2.0');
    assert.deepEqual(current.refusal, { type: 'error', code: 'unknown-intent', message: `no intent ${current.intentId} was sent to you`, intentId: current.intentId });
    for (const older of ['0.1.0', '0.0.0-rogue', 'not a version']) {
      const { intentId, refusal } = await refusalTo(older);
      // Exactly the keys the strict decoder of an agent before 0.2.0 accepts.
      assert.deepEqual(refusal, { type: 'error', code: 'unknown-intent', message: `no intent ${intentId} was sent to you` }, older);
    }
  });

  test('after the broker database is reset, the agent drops its kept result on the refusal and does not send it again at the next handshake', async () => {
    let broker = await started.broker();
    const port = Number(new URL(broker.url).port);
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, name: 'keeps-results', request: 'run_command' });
    await approve(broker, agent, ['run_command']);
    const sent = await broker.client.call('intentsDispatch', {
      agent: agent.did,
      capability: 'run_command',
      params: { command: process.execPath, args: ['-e', 'setTimeout(() => {}, 1500)'], cwd: '.', timeoutMs: 10_000 },
    });
    await agent.log.waitFor('intent.executing', (l) => l.intentId === sent.id);
    // The broker stops while the command runs: the agent keeps the result it cannot deliver.
    await broker.stop();
    await agent.log.waitFor('intent.succeeded', (l) => l.intentId === sent.id);
    for (const file of ['broker.db', 'broker.db-wal', 'broker.db-shm']) rmSync(join(broker.dataDir, file), { force: true });

    broker = await started.broker({ dataDir: broker.dataDir, port });
    await broker.log.waitFor('result.refused', (l) => l.intentId === sent.id && l.reason === 'unknown-intent', 20_000);
    const dropped = await agent.log.waitFor('result.dropped', (l) => l.intentId === sent.id);
    assert.equal(dropped.reason, 'unknown-intent');
    await assert.rejects(finalIntent(broker, sent.id, 500), 'the new database has no such intent');

    // One more handshake, with a fresh broker process: nothing is resent.
    await broker.stop();
    broker = await started.broker({ dataDir: broker.dataDir, port });
    await broker.log.waitFor('auth.succeeded', (l) => l.did === agent.did, 20_000);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(broker.log.lines.filter((l) => l.event === 'result.refused').length, 0, 'the dropped result came back');
    assert.equal(agent.log.lines.filter((l) => l.event === 'result.dropped').length, 1);
    await waitFor('the agent still connected', async () => (await broker.client.call('agentsGet', { did: agent.did })).online);
  });
});
