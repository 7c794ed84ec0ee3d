// Issue 20, what whoever can publish on NATS can do to real nodes (PostgreSQL and nats-server on loopback, a NATS
// client as the intruder). The one hint a node acts on without re-reading the database, agentBack (the node holding
// an older connection of that agent closes it), is tried with a replay of the agent's own handshake certificate,
// another agent's under its DID and bytes that are none, and disconnects nobody; an honest newer handshake on
// another node still replaces the old connection. Made-up node runs (nodeAlive) are kept only up to a bound.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { BUDGETS } from '../../core/budgets';
import { ClusterBroadcast } from '../../core/cluster/cluster-messages';
import { readKeyFile } from '../../core/identity';
import { decodeFrame, encodeFrame } from '../../core/wire/frame-codec';
import { agentSubject } from '../../broker/cluster/nats-bus';
import { startCluster, type Cluster } from '../support/cluster';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { RogueAgent } from '../attacks/support/rogue-agent';
import { approveAgent, assertSucceeded, auditLines, call, finalIntent, ownerOf, type Member } from '../attacks/support/team';

exitIfHeldOpen();

const BROADCAST = 'vaultysclaw.vaultysclaw.broadcast';
type AgentBack = Extract<ClusterBroadcast, { kind: 'agentBack' }>;

describe('whoever can publish on the cluster bus', () => {
  const started = new Started();
  let cluster: Cluster;
  let a: BrokerProcess;
  let c: BrokerProcess;
  let owner: Member;
  /** Two agents connected to node C, both joined while the spy listened. */
  let first: AgentProcess;
  let second: AgentProcess;
  /** A bus client as an intruder with NATS credentials has: it hears every broadcast and publishes its own. */
  let spy: NatsConnection;
  let subscription: Subscription;
  const heard: ClusterBroadcast[] = [];

  const refusedOn = (node: BrokerProcess) => auditLines(node.dataDir).filter((l) => l.event === 'cluster.message-refused' && l.what === 'agentBack').length;
  const agentBackOf = (agent: AgentProcess) => waitFor(`${agent.did}'s agentBack on the bus`, () => heard.find((m): m is AgentBack => m.kind === 'agentBack' && m.did === agent.did), 10_000);
  const disconnects = (agent: AgentProcess) => agent.log.lines.filter((l) => l.event === 'hub.disconnected');
  const readsOn = async (agent: AgentProcess) => {
    writeFileSync(join(agent.workspace, 'here.txt'), 'still here\n');
    const sent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path: 'here.txt' } });
    assertSucceeded(await finalIntent(owner, sent.id, 20_000));
  };

  before(async () => {
    cluster = await startCluster(started, { nodes: 2 });
    [a, c] = cluster.nodes as [BrokerProcess, BrokerProcess];
    owner = ownerOf(a);
    spy = await connect({ servers: cluster.nats.url });
    subscription = spy.subscribe(BROADCAST, {
      callback: (_err, msg) => {
        const frame = decodeFrame(ClusterBroadcast, msg.data, BUDGETS.clusterMessageBytes.limit);
        if (frame.ok) heard.push(frame.value);
      },
    });
    await spy.flush();
    first = await started.agent({ brokerUrl: c.url, brokerDid: c.did, name: 'first' });
    second = await started.agent({ brokerUrl: c.url, brokerDid: c.did, name: 'second' });
    for (const agent of [first, second]) await approveAgent(owner, agent, { capabilities: ['read_file'] });
  });
  after(async () => {
    subscription?.unsubscribe();
    await spy?.close();
    await started.cleanup();
    await cluster?.stop();
  });

  test('replays of real certificates and bytes that are none disconnect nobody; the forgeries are refused and audited on every node', async () => {
    // The agentBack of each agent's current connection (approval renewed it on the same connection: no new one).
    const [ofFirst, ofSecond] = await Promise.all([agentBackOf(first), agentBackOf(second)]);
    const refusedBefore = { a: refusedOn(a), c: refusedOn(c) };
    const forged: AgentBack[] = [
      // The agent's own certificate again, twice: no newer than the connection C holds, so C closes nothing.
      ofFirst,
      ofFirst,
      // Another agent's certificate under this agent's DID.
      { ...ofSecond, did: first.did },
      // Bytes that are no certificate.
      { ...ofFirst, handshake: new Uint8Array(512).fill(7) },
    ];
    for (const message of forged) spy.publish(BROADCAST, encodeFrame(message));
    await spy.flush();
    await waitFor('node C to refuse the two that prove nothing', () => refusedOn(c) === refusedBefore.c + 2, 10_000);
    await waitFor('node A, which does not hold the agent, to check them too', () => refusedOn(a) === refusedBefore.a + 2, 10_000);
    // Dispatched through A after the forgeries: both agents still answer on the connections they had.
    await readsOn(first);
    await readsOn(second);
    for (const agent of [first, second]) assert.deepEqual(disconnects(agent), [], `agent ${agent.did} was never disconnected`);
  });

  test("an honest newer handshake on node A replaces the agent's connection on node C", async () => {
    // The first agent's own key, on a second connection to A: what an agent whose old socket went half-open does.
    const again = new RogueAgent(readKeyFile(join(first.stateDir, 'agent.key')), a.url, a.did);
    const refusedBefore = refusedOn(c);
    const authenticated = () => first.log.lines.filter((l) => l.event === 'auth.succeeded').length;
    const authenticatedBefore = authenticated();
    const { hub } = await again.authenticate();
    try {
      const closed = await first.log.waitFor('hub.disconnected', undefined, 10_000);
      assert.match(String(closed.reason), /replaced by a newer connection on another broker node/);
      assert.equal(refusedOn(c), refusedBefore, 'believed, not refused');
    } finally {
      hub.close();
    }
    // The agent comes back by itself, and is served again.
    await waitFor('the first agent connected again', () => authenticated() > authenticatedBefore, 20_000);
    await readsOn(first);
  });

  test("a replay of the certificate of the agent's current connection, the newest there is, closes nothing either", async () => {
    // Heard when the agent came back to C in the test before; no renewal since, so it is this connection's own.
    const current = heard.filter((m): m is AgentBack => m.kind === 'agentBack' && m.did === first.did).at(-1)!;
    const disconnectsBefore = disconnects(first).length;
    for (let i = 0; i < 3; i++) spy.publish(BROADCAST, encodeFrame(current));
    await spy.flush();
    await readsOn(first);
    assert.equal(disconnects(first).length, disconnectsBefore, 'still on the connection the certificate came from');
  });

  test(`made-up node runs (nodeAlive) are recorded up to BUDGETS.clusterNodeRunsHeard (${BUDGETS.clusterNodeRunsHeard.limit}); the next is refused and audited`, async () => {
    const refused = () => auditLines(a.dataDir).filter((l) => l.event === 'cluster.message-refused' && l.what === 'nodeAlive');
    const before = refused().length;
    // Node A already heard one run: node C's. With these, it holds the bound, and the last one is one too many.
    const limit = BUDGETS.clusterNodeRunsHeard.limit;
    for (let i = 0; i < limit; i++) spy.publish(BROADCAST, encodeFrame({ kind: 'nodeAlive', node: `made-up-${i}`, name: 'made-up' } satisfies ClusterBroadcast));
    await spy.flush();
    const lines = await waitFor('node A to refuse the run past the bound', () => (refused().length > before ? refused() : undefined), 10_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(refused().length, before + 1, 'one refused: the bound + 1');
    assert.match(String(lines.at(-1)!.detail), new RegExp(`${limit} node runs already heard: made-up-${limit - 1} not recorded`));
    // A live certificate replayed under a made-up run: the agent is real, the run is not, and the bound holds for it too.
    const current = heard.filter((m): m is AgentBack => m.kind === 'agentBack' && m.did === first.did).at(-1)!;
    const refusedBack = () => auditLines(a.dataDir).filter((l) => l.event === 'cluster.message-refused' && l.what === 'agentBack' && /node runs already heard/.test(String(l.detail)));
    spy.publish(BROADCAST, encodeFrame({ ...current, node: 'made-up-by-replay' }));
    await spy.flush();
    await waitFor('node A to refuse the run named in a replayed agentBack', () => refusedBack().length === 1 || undefined, 10_000);
    // The node's own work goes on: an agent on C still answers a dispatch through A.
    await readsOn(second);
  });

  test('agentGone for an agent this broker does not know asks nothing and records nothing; for a known one, the nodes ask who holds it', async () => {
    const unknown = `did:vaultys:${'7'.repeat(40)}`;
    const asked = new Map<string, number>();
    const listen = (did: string) =>
      spy.subscribe(agentSubject('vaultysclaw', did), { callback: () => void asked.set(did, (asked.get(did) ?? 0) + 1) });
    const subscriptions = [listen(unknown), listen(second.did)];
    await spy.flush();
    try {
      for (const did of [unknown, second.did]) spy.publish(BROADCAST, encodeFrame({ kind: 'agentGone', did } satisfies ClusterBroadcast));
      await spy.flush();
      await waitFor('a presence question about the known agent', () => (asked.get(second.did) ?? 0) > 0 || undefined, 10_000);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(asked.get(unknown) ?? 0, 0, 'no question about an agent nobody registered');
    } finally {
      for (const subscription of subscriptions) subscription.unsubscribe();
    }
    await readsOn(second);
  });
});
