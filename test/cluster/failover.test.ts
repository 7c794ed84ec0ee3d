// Issue 20's failure tests on three real broker processes sharing one PostgreSQL database and one nats-server: a node
// killed -9 loses nothing and runs nothing twice. An agent given every node's URL reconnects to another node, which
// re-sends what it held from the database; an agent that dies with its node has its intents ended lost-agent by the
// surviving nodes, once; a pending approval outlives the node its reviewer used; a node starting while an agent of
// another node has intents in flight ends none of them. Each node has its own data directory and audit log.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BrokerClient } from '../../broker/cli/broker-client';
import { startCluster, type Cluster } from '../support/cluster';
import { MitmProxy } from '../attacks/support/mitm-proxy';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { approveAgent, assertSucceeded, auditLines, call, decisionParams, finalIntent, joinAs, ownerOf, pendingApproval, type Member } from '../attacks/support/team';
import type { RunCommandOutput } from '../../agent/tools';

exitIfHeldOpen();

/** Short, so an agent that stays away ends its intents within the test; the nodes' sweep adds at most its period. */
const GRACE_S = 2;
const CAPABILITIES = ['read_file', 'list_files', 'write_file', 'run_command'] as const;

describe('a broker node of three dies (kill -9)', () => {
  const started = new Started();
  let cluster: Cluster;
  /** The same owner (the host operator every node shares), on any node's socket. */
  let owner: Member;
  const ownerOn = (node: BrokerProcess): Member => ({ ...owner, client: node.client });
  const hubOf = (node: BrokerProcess) => new URL(node.url).toString();
  /** The URL the agent's latest connection went to (its log's hub.connected). */
  const connectedTo = (agent: AgentProcess) => agent.log.lines.filter((l) => l.event === 'hub.connected').at(-1)?.url;
  const executions = (agent: AgentProcess, intentId: string) => agent.log.lines.filter((l) => l.event === 'intent.executing' && l.intentId === intentId).length;
  const lostLines = (nodes: BrokerProcess[], intentId: string) => nodes.flatMap((n) => auditLines(n.dataDir)).filter((l) => l.event === 'intent.lost' && l.intentId === intentId);
  const runCommand = (script: string) => ({ command: 'sh', args: ['-c', script], cwd: '.', timeoutMs: 30_000 });

  /** An agent connected to node C (the third) for the whole file, whose writes wait for a reviewer. */
  let onC: AgentProcess;

  before(async () => {
    cluster = await startCluster(started, { nodes: 3, args: ['--lost-agent-grace', String(GRACE_S)] });
    const c = cluster.nodes[2]!;
    owner = ownerOf(c);
    onC = await started.agent({ brokerUrl: c.url, brokerDid: c.did, name: 'on-c' });
    await approveAgent(ownerOn(c), onC, { capabilities: [...CAPABILITIES], approvalRequired: ['write_file'] });
  });
  after(async () => {
    await started.cleanup();
    await cluster?.stop();
  });

  test('the node holding an agent mid-intent dies: the agent reconnects to the next URL, the intent runs once and its result reaches the user on another node', async () => {
    const [a, b, c] = cluster.nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    const agent = await started.agent({ brokerUrl: [a, b, c].map((n) => n.url).join(','), brokerDid: a.did, name: 'fails-over' });
    await approveAgent(ownerOn(b), agent, { capabilities: [...CAPABILITIES] });
    assert.equal(connectedTo(agent), hubOf(a), 'the first URL of the list first');
    const sent = await call(ownerOn(b), 'intentsDispatch', { agent: agent.did, capability: 'run_command', params: runCommand('echo started; sleep 2; echo finished') });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    await agent.log.waitFor('intent.executing', (l) => l.intentId === sent.id);
    await a.kill();

    const view = await finalIntent(ownerOn(b), sent.id, 30_000);
    assertSucceeded(view);
    assert.match((view.output as RunCommandOutput).stdout, /started\nfinished/, 'the result of the run that began on the dead node is kept');
    assert.equal(connectedTo(agent), hubOf(b), 'the next URL of the list');
    assert.equal(executions(agent, sent.id), 1, 'run once, though the surviving node sent it again');
    assert.ok(auditLines(b.dataDir).some((l) => l.event === 'intent.resent' && l.intentId === sent.id), "node B re-sent it from the database when the agent came back");
    assert.equal((await call(ownerOn(c), 'intentsGet', { id: sent.id })).state, 'succeeded', 'node C shows it final too');
    assert.equal(lostLines([b, c], sent.id).length, 0);
  });

  test('the node holding an agent dies with the agent: the surviving nodes end its intent lost-agent after the grace, once', async () => {
    const [, b, c] = cluster.nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    const d = await cluster.addNode('node-3');
    const agent = await started.agent({ brokerUrl: d.url, brokerDid: d.did, name: 'dies-with-its-node' });
    await approveAgent(ownerOn(b), agent, { capabilities: [...CAPABILITIES] });
    const sent = await call(ownerOn(b), 'intentsDispatch', { agent: agent.did, capability: 'run_command', params: runCommand('sleep 25') });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    await agent.log.waitFor('intent.executing', (l) => l.intentId === sent.id);
    // The node first: no node ever hears the agent's connection close.
    await d.kill();
    await agent.kill();

    for (const node of [b, c]) assert.equal((await finalIntent(ownerOn(node), sent.id, 30_000)).state, 'lost-agent', `on ${node.url}`);
    const offline = await waitFor('the surviving nodes to show the agent offline', async () => {
      const views = await Promise.all([b, c].map((n) => call(ownerOn(n), 'agentsGet', { did: agent.did })));
      return views.every((v) => !v.online) || undefined;
    }, 10_000);
    assert.ok(offline);
    // Both surviving nodes look for orphans: past another grace and sweep, still one end.
    await new Promise((r) => setTimeout(r, 2 * GRACE_S * 1000));
    assert.equal(lostLines([b, c], sent.id).length, 1, 'one intent.lost line across the surviving nodes');
  });

  test('the bus is down while an agent moves from node C to node B: C does not end its intent on a guess, and it completes once', async () => {
    const [, b, c] = cluster.nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    // The agent reaches C through a relay the test can cut: C stays up and sees the connection close.
    const relay = await MitmProxy.start(c.url);
    const agent = await started.agent({ brokerUrl: `${relay.url},${b.url}`, brokerDid: c.did, name: 'moves-without-bus' });
    await approveAgent(ownerOn(c), agent, { capabilities: [...CAPABILITIES] });
    const sent = await call(ownerOn(c), 'intentsDispatch', { agent: agent.did, capability: 'run_command', params: runCommand('while [ ! -e go ]; do sleep 0.1; done; echo done') });
    await agent.log.waitFor('intent.executing', (l) => l.intentId === sent.id);
    await cluster.nats.stop();
    try {
      await relay.close();
      await waitFor('the agent on node B', () => connectedTo(agent) === hubOf(b) && agent.log.lines.filter((l) => l.event === 'auth.succeeded').length >= 2, 15_000);
      // C's grace period ends while the bus cannot tell it that B holds the agent now.
      await new Promise((r) => setTimeout(r, (2 * GRACE_S + 1) * 1000));
      const meanwhile = await call(ownerOn(c), 'intentsGet', { id: sent.id });
      assert.ok(['sent', 'running'].includes(meanwhile.state), `still in flight while the bus is down, not ${meanwhile.state}: ${meanwhile.message}`);
    } finally {
      await cluster.nats.restart();
    }
    // Until a node is back on the bus, no node can reach the agents it holds (no responder): what follows needs every node.
    await waitFor('both nodes back on the bus', () => [b, c].every((n) => auditLines(n.dataDir).some((l) => l.event === 'cluster.bus-up')), 20_000);
    writeFileSync(join(agent.workspace, 'go'), '');
    const view = await finalIntent(ownerOn(b), sent.id, 30_000);
    assertSucceeded(view);
    assert.equal(executions(agent, sent.id), 1);
    assert.equal(lostLines([b, c], sent.id).length, 0, 'no node ended it');
  });

  test('a node starting while an agent of another node has an intent in flight ends nothing of it', async () => {
    const [, b, c] = cluster.nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    // In flight until the test says so: the new node's start and a whole grace period pass while it runs.
    const sent = await call(ownerOn(c), 'intentsDispatch', { agent: onC.did, capability: 'run_command', params: runCommand('while [ ! -e go ]; do sleep 0.1; done; echo done') });
    await onC.log.waitFor('intent.executing', (l) => l.intentId === sent.id);
    const e = await cluster.addNode('node-4');
    await new Promise((r) => setTimeout(r, (GRACE_S + 1) * 1000));
    const inFlight = await call(ownerOn(e), 'intentsGet', { id: sent.id });
    assert.ok(['sent', 'running'].includes(inFlight.state), `still in flight past the new node's grace period, not ${inFlight.state}`);
    writeFileSync(join(onC.workspace, 'go'), '');
    assertSucceeded(await finalIntent(ownerOn(e), sent.id, 20_000));
    assert.equal(lostLines([b, c, e], sent.id).length, 0, 'no node ended it');
    await e.stop();
  });

  test("views follow agents with nothing in flight: a node started later shows online the agent another node holds; an idle agent whose node dies is shown offline once that node falls silent", async (t) => {
    const [, b, c] = cluster.nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    const late = await cluster.addNode('node-late');
    await waitFor('the node started later to show the agent on C online', async () => (await call(ownerOn(late), 'agentsGet', { did: onC.did })).online || undefined, 10_000);
    // An agent that knows only the late node's URL: when that node dies, nobody hears its connection close.
    const idle = await started.agent({ brokerUrl: late.url, brokerDid: late.did, name: 'idle-with-its-node' });
    await approveAgent(ownerOn(b), idle, { capabilities: ['read_file'] });
    const onlineOn = async (nodes: BrokerProcess[]) => Promise.all(nodes.map(async (n) => (await call(ownerOn(n), 'agentsGet', { did: idle.did })).online));
    await waitFor('B and C to show the idle agent online', async () => (await onlineOn([b, c])).every(Boolean) || undefined, 10_000);
    const killedAt = Date.now();
    await late.kill();
    await waitFor('B and C to show the idle agent offline', async () => (await onlineOn([b, c])).every((online) => !online) || undefined, 40_000);
    t.diagnostic(`shown offline ${Date.now() - killedAt} ms after its node died`);
    assert.equal((await call(ownerOn(c), 'agentsGet', { did: onC.did })).online, true, 'the agents of nodes still heard stay online');
  });

  test('a pending approval outlives the node its reviewer used: the reviewer reconnects to another node and decides it, the write happens once', async () => {
    const [, b, c] = cluster.nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    const bob = await joinAs(b, ownerOn(b), 'reviewer', 'bob');
    const sent = await call(ownerOn(c), 'intentsDispatch', { agent: onC.did, capability: 'write_file', params: { path: 'reviewed.txt', content: 'approved\n', mode: 'create' } });
    const approval = await pendingApproval(bob, sent.id, 15_000);
    await b.kill();
    bob.client.close();

    // The reviewer's client is given both nodes; the dead one refuses, the next answers.
    const again: Member = { ...bob, client: await BrokerClient.connectRemote([b.url, c.url], c.did, bob.identity, { name: 'bob' }) };
    try {
      assert.equal((await pendingApproval(again, sent.id)).requestId, approval.requestId, 'still pending after the node died');
      await call(again, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
      assertSucceeded(await finalIntent(again, sent.id, 20_000));
    } finally {
      again.client.close();
    }
    assert.equal(readFileSync(join(onC.workspace, 'reviewed.txt'), 'utf8'), 'approved\n');
    assert.equal(executions(onC, sent.id), 1);
  });

  test('a second node started under a name a running node has: both say so in their audit logs, once', async () => {
    const c = cluster.nodes[2]!;
    const twin = await cluster.addNode('node-2');
    const told = (node: BrokerProcess) => auditLines(node.dataDir).filter((l) => l.event === 'cluster.node-name-taken');
    await waitFor('both nodes named node-2 to say another runs under their name', () => told(c).length > 0 && told(twin).length > 0, 20_000);
    // Past more heartbeats of the other: still one line each.
    await new Promise((r) => setTimeout(r, 6_000));
    assert.deepEqual([told(c).length, told(twin).length], [1, 1]);
    assert.equal(told(c)[0]!.node, 'node-2');
    await twin.stop();
  });
});
