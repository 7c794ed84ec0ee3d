// The extension's tree model against a real broker: the broker the extension starts (on stdio, pinned by the
// DID read from its data directory) and a real agent process. The trees are built only from the first lists
// and then from broker notifications; the tests check both what the rows say and that nothing polled.
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { describe, test } from 'node:test';
import { Methods } from '../../core/rpc/methods';
import { agentsTree } from '../../extension/model/agents-tree';
import { LiveModel } from '../../extension/model/live-model';
import type { TreeNode } from '../../extension/model/tree-node';
import { startAgent, waitFor } from '../support/processes';
import { connectLocal } from './support/local';
import { endedAfterEach } from './support/started';

const { launched, agents, dirs } = endedAfterEach();

const group = (tree: TreeNode[], id: string) => tree.find((g) => g.id === `group:${id}`);
const row = (node: TreeNode | undefined, label: string) => node?.children?.find((c) => c.label === label);

describe('the Agents tree from a live broker', () => {
  test('follows an agent from pending registration to online to offline, from notifications only', async () => {
    const methods: string[] = [];
    const local = await connectLocal({ launched, methods, name: 'owner' });
    dirs.push(dirname(local.dataDir));
    assert.equal(local.session.role, 'owner', 'the first user of a fresh broker is its owner');
    const model = new LiveModel();
    await model.attach(local.session);
    assert.deepEqual(agentsTree(model.agents(), Date.now()), [], 'a fresh broker has no agents');
    const info = await local.session.call('brokerInfo', {});
    assert.equal(info.did, local.session.brokerDid);

    const requestsAfterLoad = methods.length;
    const agent = await startAgent({ brokerUrl: info.hubUrl!, brokerDid: info.did, name: 'build-1', request: 'read_file,list_files' });
    agents.push(agent);
    dirs.push(agent.stateDir, agent.workspace);

    const pending = await waitFor('the agent in the pending group', () => group(agentsTree(model.agents(), Date.now()), 'pending')?.children?.find((n) => n.id === agent.did));
    assert.equal(pending.label, 'build-1');
    assert.equal(pending.contextValue, 'agent.pending');
    assert.match(pending.description ?? '', /online · asks read_file, list_files/);
    assert.equal(row(pending, 'Requested')?.description, 'read_file, list_files');
    assert.equal(methods.length, requestsAfterLoad, 'the registration arrived as a notification, not by asking again');

    await local.session.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['read_file'], approvalRequired: [], maxRequestsPerHour: 10, maxTokensPerDay: 500 } });
    const online = await waitFor('the agent online with its policy', () => {
      const node = group(agentsTree(model.agents(), Date.now()), 'online')?.children?.find((n) => n.id === agent.did);
      return node?.children?.some((c) => c.label === 'Capabilities') ? node : undefined;
    });
    assert.equal(online.contextValue, 'agent.online');
    assert.equal(row(online, 'Capabilities')?.description, 'read_file');
    assert.equal(row(online, 'Needs approval')?.description, 'none');
    assert.equal(row(online, 'Requests this hour')?.description, '0 / 10');
    assert.equal(row(online, 'Tokens today')?.description, '0 / 500');
    assert.match(row(online, 'Policy expires')?.description ?? '', /^in (29|30) d/);
    assert.match(online.tooltip ?? '', /Capabilities: read\\_file/);
    assert.equal(group(agentsTree(model.agents(), Date.now()), 'pending'), undefined, 'no empty group is shown');

    await agent.stop();
    const offline = await waitFor('the agent offline', () => group(agentsTree(model.agents(), Date.now()), 'offline')?.children?.find((n) => n.id === agent.did));
    assert.equal(offline.contextValue, 'agent.offline');
    assert.equal(row(offline, 'Last seen')?.label, 'Last seen');

    const calls = methods.slice(requestsAfterLoad);
    assert.deepEqual(calls, [Methods.registrationsApprove.method], 'after the first load, the only request was the approval itself');
    await local.close();
  });

  test('revoking an agent moves it to the revoked group at once', async () => {
    const local = await connectLocal({ launched, name: 'owner' });
    dirs.push(dirname(local.dataDir));
    const model = new LiveModel();
    await model.attach(local.session);
    const info = await local.session.call('brokerInfo', {});
    const agent = await startAgent({ brokerUrl: info.hubUrl!, brokerDid: info.did, name: 'doomed' });
    agents.push(agent);
    dirs.push(agent.stateDir, agent.workspace);
    await waitFor('pending', () => model.agent(agent.did)?.status === 'pending');
    await local.session.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['read_file'] } });
    await waitFor('online', () => model.agent(agent.did)?.online && model.agent(agent.did)?.status === 'approved');
    await local.session.call('agentsRevoke', { did: agent.did, reason: 'decommissioned' });
    const revoked = await waitFor('revoked row', () => group(agentsTree(model.agents(), Date.now()), 'revoked')?.children?.find((n) => n.id === agent.did));
    assert.equal(revoked.contextValue, 'agent.revoked');
    assert.equal(row(revoked, 'Reason')?.description, 'decommissioned');
    assert.equal(await agent.exited(), 3, 'the agent process ends when it is revoked');
    await local.close();
  });
});
