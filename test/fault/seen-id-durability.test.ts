/**
 * The agent's seen-id store is durable before execution, end to end: a real
 * agent process is killed -9 the moment its command has started (its id was
 * recorded just before), restarted on the same state directory, and handed
 * the very same signed intent again (the broker resends what is unanswered
 * after a reconnect). It must refuse it as a replay and never run it twice;
 * the intent ends with the agent's signed word that it was interrupted.
 * A regression to a deferred or batched seen-id write (or a store in memory)
 * makes the command run a second time here.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { finalIntent } from '../attacks/support/fleet';
import { waitFor } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

describe('seen ids survive kill -9 of the agent', () => {
  const started = new Started();
  after(() => started.cleanup());

  test('killed -9 right after the intent was recorded and its command started: after a restart the same signed intent is refused as replay and the command ran once', async () => {
    const broker = await started.broker();
    const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did });
    await waitFor('the registration', async () => (await broker.client.call('registrationsList', {})).items.find((r) => r.did === agent.did && r.online));
    await broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['run_command'] } });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);

    const counter = join(agent.workspace, 'runs.txt');
    const sent = await broker.client.call('intentsDispatch', {
      agent: agent.did,
      capability: 'run_command',
      params: { command: 'sh', args: ['-c', 'echo ran >> runs.txt; sleep 2'], cwd: '.', timeoutMs: 10_000 },
    });
    await waitFor('the command to have started', () => existsSync(counter) && readFileSync(counter, 'utf8').length > 0);
    await agent.kill();

    const restarted = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: agent.stateDir, workspace: agent.workspace });
    await restarted.log.waitFor('intent.interrupted', (l) => l.intentId === sent.id);
    // The broker resent the same signed intent after the reconnect: the durable seen id refused it.
    const replay = await restarted.log.waitFor('intent.rejected', (l) => l.intentId === sent.id);
    assert.equal(replay.reason, 'replay');
    assert.ok(broker.log.find('intent.resent', (l) => l.intentId === sent.id), 'the broker did resend it');
    assert.equal(restarted.log.find('intent.executing', (l) => l.intentId === sent.id), undefined, 'not run by the restarted agent');

    const view = await finalIntent(broker, sent.id);
    assert.equal(view.state, 'failed');
    assert.match(view.message ?? '', /stopped while it held this intent; it is not run again/);
    assert.ok(view.signedResult);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(readFileSync(counter, 'utf8'), 'ran\n', 'the command ran exactly once');
  });
});
