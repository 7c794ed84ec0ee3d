// Issue 19 finding 5: two renewals at once dropped the agent's connection (a second auth/init while the first
// was under way: out-of-order) and with it every tool call waiting for a reviewer (approval-expired). A real
// broker and agent, with a WebSocket proxy on 127.0.0.1 that delivers one update_capabilities twice, as a
// policy change and a rotation announced together would.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, waitFor, type AgentProcess } from '../support/processes';
import { Fleet } from './support/fleet';
import { MitmProxy } from './support/mitm-proxy';
import { approveAgent, call, decisionParams, finalIntent, joinAs, ownerOf, pendingApproval, type Member } from './support/team';

let fleet: Fleet;
let proxy: MitmProxy;
let agent: AgentProcess;
let owner: Member;
let alice: Member;
let bob: Member;

before(async () => {
  fleet = await Fleet.start();
  proxy = await MitmProxy.start(fleet.broker.url);
  agent = fleet.track(await startAgent({ brokerUrl: proxy.url, brokerDid: fleet.broker.did, name: 'renewing', request: 'read_file,list_files,write_file' }));
  owner = ownerOf(fleet.broker);
  alice = await joinAs(fleet.broker, owner, 'operator', 'alice');
  bob = await joinAs(fleet.broker, owner, 'reviewer', 'bob');
  await approveAgent(owner, agent, { capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'] });
  await call(owner, 'grantsCreate', { user: alice.did, agent: agent.did, capabilities: ['write_file', 'list_files'], validForMs: 3_600_000 });
});
after(async () => {
  alice?.client.close();
  bob?.client.close();
  await proxy?.close();
  await fleet?.stop();
});

describe('renewals (issue 19 #5)', () => {
  test('two renewals at once keep the connection, and a tool call waiting for a reviewer survives them', async () => {
    const sent = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'renewed.txt', content: 'x', mode: 'create' } });
    const approval = await pendingApproval(bob, sent.id);
    const mark = agent.log.lines.length;
    let doubled = 0;
    proxy.hook = (m) => {
      if (m.direction === 'toAgent' && m.frame?.type === 'update_capabilities' && doubled++ === 0) proxy.injectToAgent(m.data);
      return undefined;
    };
    // A policy change: the broker sends update_capabilities, which the agent now receives twice in a row.
    await call(owner, 'policySet', { did: agent.did, policy: { capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'], maxRequestsPerHour: 500 } });
    // Both renewals ran, one after the other, on the same connection.
    await waitFor('two renewed handshakes', () => agent.log.lines.slice(mark).filter((l) => l.event === 'auth.succeeded').length >= 2 || undefined, 20_000);
    assert.equal(doubled, 1);
    const since = agent.log.lines.slice(mark);
    assert.equal(since.filter((l) => l.event === 'policy.renewing').length, 2);
    assert.deepEqual(since.filter((l) => l.event === 'hub.disconnected' || l.event === 'auth.refused'), []);
    assert.equal(fleet.broker.log.lines.some((l) => l.event === 'hub.refused' && l.code === 'out-of-order' && l.did === agent.did), false);

    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    const done = await finalIntent(alice, sent.id, 20_000);
    assert.equal(done.state, 'succeeded', `${done.reason}: ${done.message}`);
    assert.equal(existsSync(join(agent.workspace, 'renewed.txt')), true);
  });
});
