// Issue 20's outage and race tests on three real broker processes sharing one PostgreSQL and one nats-server: NATS
// stopped and started again under a stream of dispatches from node A to an agent on node C, PostgreSQL the same way,
// and two nodes approving one registration at once. A node that cannot reach the others refuses what needs them with
// a clear error and says so on /readyz; every intent ends once, in a final state; nodes recover by themselves.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IntentSummary, IntentView } from '../../core/rpc/views';
import { startCluster, type Cluster } from '../support/cluster';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import {
  approveAgent,
  assertBrokerRefused,
  assertSucceeded,
  auditLines,
  call,
  decisionParams,
  finalIntent,
  joinAs,
  ownerOf,
  pendingApproval,
  rpcError,
  type Member,
} from '../attacks/support/team';

exitIfHeldOpen();

/** The refusal a node answers for an agent on another node while its bus is down. */
const BUS_DOWN = /cluster bus \(NATS\) is down on this broker node.*not connected to it/;
/** Dispatches per outage, and the time between two: the outage (~3 s) falls well inside the stream. */
const DISPATCHES = 40;
const SPACING_MS = 150;
const OUTAGE_MS = 3_000;

interface Readyz {
  status: number;
  body: { status: string; failed: string[]; checks: Record<string, string> };
}

async function readyz(base: string): Promise<Readyz> {
  const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as Readyz['body'] };
}

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} on /metrics`);
  return Number(line.split(' ')[1]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What one dispatch of the stream gave: the intent, or the RPC error that refused the request. */
type Outcome = { view: IntentSummary } | { error: { reason: string | undefined; message: string } };

describe('a three-node cluster through NATS and PostgreSQL outages, and a registration approved on two nodes at once', () => {
  const started = new Started();
  let cluster: Cluster;
  let a: BrokerProcess;
  let b: BrokerProcess;
  let c: BrokerProcess;
  /** Each node's /metrics and /readyz. */
  let ops: string[];
  let ownerA: Member;
  const ownerB = (): Member => ({ ...ownerA, client: b.client });
  /** An agent connected to node C. */
  let onC: AgentProcess;

  before(async () => {
    // A short grace period: an intent whose delivery was lost with the bus is taken up again soon after it is back.
    cluster = await startCluster(started, { nodes: 3, args: ['--metrics', '127.0.0.1:0', '--lost-agent-grace', '3'] });
    [a, b, c] = cluster.nodes as [BrokerProcess, BrokerProcess, BrokerProcess];
    ops = await Promise.all(cluster.nodes.map(async (node) => String((await node.log.waitFor('ops.listening')).url)));
    ownerA = ownerOf(a);
    onC = await started.agent({ brokerUrl: c.url, brokerDid: c.did, name: 'on-c' });
    await approveAgent(ownerA, onC, { capabilities: ['read_file', 'write_file'], approvalRequired: ['write_file'], maxRequestsPerHour: 1_000 });
    writeFileSync(join(onC.workspace, 'note.txt'), 'kept\n');
  });
  after(async () => {
    await started.cleanup();
    await cluster?.stop();
  });

  const executions = (id: string) => onC.log.lines.filter((l) => l.event === 'intent.executing' && l.intentId === id).length;

  /** DISPATCHES reads from node A to the agent on C, one every SPACING_MS, while `outage` runs beside them. */
  async function streamDuring(outage: () => Promise<void>): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    const dispatching = (async () => {
      for (let i = 0; i < DISPATCHES; i++) {
        try {
          outcomes.push({ view: await call(ownerA, 'intentsDispatch', { agent: onC.did, capability: 'read_file', params: { path: 'note.txt' } }) });
        } catch (err) {
          const e = await rpcError(Promise.reject(err as Error));
          outcomes.push({ error: { reason: e.reason, message: e.message } });
        }
        await sleep(SPACING_MS);
      }
    })();
    await Promise.all([dispatching, outage()]);
    return outcomes;
  }

  /** Every intent of the stream ends in a final state, read on node A; those that ran, ran once. */
  async function settled(outcomes: Outcome[]): Promise<IntentView[]> {
    const views: IntentView[] = [];
    for (const outcome of outcomes) if ('view' in outcome) views.push(await finalIntent(ownerA, outcome.view.id, 30_000));
    for (const view of views) assert.ok(executions(view.id) <= 1, `intent ${view.id} ran ${executions(view.id)} times`);
    return views;
  }

  test('NATS stopped for ~3 s under a stream of dispatches A→C: each ends succeeded or refused as bus-down, none runs twice; /readyz says so; it all works again by itself', async (t) => {
    assert.equal((await readyz(ops[0]!)).body.checks['cluster-bus'], 'ok');
    assert.equal(await metric(ops[0]!, 'vaultysclaw_cluster_bus_up'), 1);
    let unready: Readyz | undefined;
    let busUp: number | undefined;
    const outcomes = await streamDuring(async () => {
      await sleep(1_500);
      await cluster.nats.stop();
      unready = await waitFor("node A's /readyz to say the bus is down", async () => {
        const r = await readyz(ops[0]!);
        return r.status === 503 ? r : undefined;
      }, 15_000);
      busUp = await metric(ops[0]!, 'vaultysclaw_cluster_bus_up');
      await sleep(OUTAGE_MS);
      await cluster.nats.restart();
    });
    assert.deepEqual(unready?.body.failed, ['cluster-bus']);
    assert.match(unready!.body.checks['cluster-bus']!, /down/);
    assert.equal(busUp, 0);

    const errors = outcomes.filter((o) => 'error' in o);
    assert.deepEqual(errors, [], 'no request fails: a dispatch is answered, refused or sent');
    const views = await settled(outcomes);
    const succeeded = views.filter((v) => v.state === 'succeeded');
    const refused = views.filter((v) => v.state !== 'succeeded');
    const redelivered = a.log.lines.filter((l) => l.event === 'intent.redelivered').length;
    t.diagnostic(`${succeeded.length} succeeded, ${refused.length} refused, ${redelivered} delivered again after the outage`);
    // Refused as the bus being down, or (between the restart and the holder's resubscription) as not connected anywhere.
    for (const view of refused) assertBrokerRefused(view, 'agent-offline', /cluster bus \(NATS\) is down on this broker node.*not connected to it|^the agent is not connected$/);
    assert.ok(refused.some((view) => BUS_DOWN.test(view.message ?? '')), 'the outage is named as the bus being down');
    for (const view of succeeded) assert.equal(executions(view.id), 1, `intent ${view.id} succeeded without running`);
    assert.ok(refused.length > 0, 'the outage was seen: some dispatches were refused');
    assert.ok(succeeded.length > 0, 'dispatches before the outage succeeded');

    for (const base of ops) await waitFor('every node ready again', async () => (await readyz(base)).status === 200, 30_000);
    assert.equal(await metric(ops[0]!, 'vaultysclaw_cluster_bus_up'), 1);
    const again = await waitFor('a dispatch A→C to succeed again, no node restarted', async () => {
      const view = await finalIntent(ownerA, (await call(ownerA, 'intentsDispatch', { agent: onC.did, capability: 'read_file', params: { path: 'note.txt' } })).id, 20_000);
      return view.state === 'succeeded' ? view : undefined;
    }, 30_000);
    assertSucceeded(again);
  });

  test('a reviewer on node A deciding a call paused on node C while NATS is down: refused cluster-unavailable, nothing recorded; decided again once the bus is back, the call runs once', async () => {
    const bob = await joinAs(a, ownerA, 'reviewer', 'bob');
    const sent = await call(ownerB(), 'intentsDispatch', { agent: onC.did, capability: 'write_file', params: { path: 'reviewed.txt', content: 'approved on A\n', mode: 'create' } });
    const approval = await pendingApproval(bob, sent.id, 15_000);
    await cluster.nats.stop();
    try {
      await waitFor("node A's bus to be down", async () => (await readyz(ops[0]!)).status === 503, 15_000);
      const refused = await rpcError(call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve')), 'a decision while the bus is down');
      assert.equal(refused.reason, 'cluster-unavailable', refused.message);
      assert.match(refused.message, /cluster bus \(NATS\) is down.*not recorded/);
      const after = await call(bob, 'approvalsGet', { requestId: approval.requestId });
      assert.equal(after.state, 'pending');
      assert.deepEqual(after.approvals, [], 'no decision recorded');
    } finally {
      await cluster.nats.restart();
    }
    await waitFor("node A's bus back", async () => (await readyz(ops[0]!)).status === 200, 30_000);
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    assertSucceeded(await finalIntent(ownerA, sent.id, 20_000));
    assert.equal(executions(sent.id), 1);
    bob.client.close();
  });

  test('NATS stops answering as a reviewer on node A decides a call paused on node C, then dies: the decision, recorded and kept, is sent again once NATS is back, and the call runs once', async () => {
    const carol = await joinAs(a, ownerA, 'reviewer', 'carol');
    const sent = await call(ownerB(), 'intentsDispatch', { agent: onC.did, capability: 'write_file', params: { path: 'kept.txt', content: 'sent again\n', mode: 'create' } });
    const approval = await pendingApproval(carol, sent.id, 15_000);
    cluster.nats.pause();
    let decided: unknown;
    try {
      // The bus looks up (its pings have not failed yet): the decision is recorded, and node C does not answer in time.
      decided = await call(carol, 'approvalsDecide', decisionParams(carol.identity, approval, 'approve')).catch((err: unknown) => err);
      assert.equal((await call(carol, 'approvalsGet', { requestId: approval.requestId })).state, 'approved', `recorded: ${JSON.stringify(decided)}`);
      assert.ok(auditLines(a.dataDir).some((l) => l.event === 'approval.undelivered' && l.requestId === approval.requestId && l.outcome === 'kept'));
      assert.equal(executions(sent.id), 0, 'not run while the decision has not reached the agent');
    } finally {
      // Killed while stopped: the delivery node A sent dies with it, unrouted. Only a kept decision can reach the agent.
      await cluster.nats.kill9();
      await cluster.nats.restart();
    }
    assertSucceeded(await finalIntent(ownerA, sent.id, 40_000));
    assert.equal(executions(sent.id), 1);
    assert.equal(readFileSync(join(onC.workspace, 'kept.txt'), 'utf8'), 'sent again\n');
    assert.ok(auditLines(a.dataDir).some((l) => l.event === 'approval.redelivered' && l.requestId === approval.requestId), 'taken from what node A kept');
    for (const base of ops) await waitFor('every node ready again', async () => (await readyz(base)).status === 200, 30_000);
    carol.client.close();
  });

  test('PostgreSQL stopped for ~3 s under a stream of dispatches A→C: requests fail storage-failed meanwhile, every intent sent succeeds once, none lost; nodes recover by themselves', async (t) => {
    const before = new Set(onC.log.lines.filter((l) => l.event === 'intent.executing').map((l) => String(l.intentId)));
    const outcomes = await streamDuring(async () => {
      await sleep(1_500);
      await cluster.postgres.halt();
      await waitFor("node A's /readyz to say the database is down", async () => (await readyz(ops[0]!)).body.failed.includes('database'), 15_000);
      await sleep(OUTAGE_MS);
      await cluster.postgres.resume();
    });
    const errors = outcomes.flatMap((o) => ('error' in o ? [o.error] : []));
    assert.ok(errors.length > 0, 'the outage was seen: some requests failed');
    for (const error of errors) assert.equal(error.reason, 'storage-failed', error.message);
    const views = await settled(outcomes);
    t.diagnostic(`${views.length} dispatched, ${errors.length} failed storage-failed`);
    for (const view of views) {
      assertSucceeded(view);
      assert.equal(executions(view.id), 1, `intent ${view.id} succeeded without running`);
    }
    // Nothing ran that no user was answered for: what failed was never signed.
    const ran = onC.log.lines.filter((l) => l.event === 'intent.executing' && !before.has(String(l.intentId))).map((l) => String(l.intentId));
    assert.deepEqual(new Set(ran), new Set(views.map((v) => v.id)));
    for (const base of ops) await waitFor('every node ready again', async () => (await readyz(base)).status === 200, 30_000);
    assertSucceeded(await finalIntent(ownerA, (await call(ownerA, 'intentsDispatch', { agent: onC.did, capability: 'read_file', params: { path: 'note.txt' } })).id, 20_000));
  });

  test('two nodes approve one pending registration at once: exactly one wins, the other is told conflict, and both nodes agree', async () => {
    const agent = await started.agent({ brokerUrl: c.url, brokerDid: c.did, name: 'raced' });
    await waitFor('the registration pending on both nodes', async () => {
      const [onA, onB] = await Promise.all([call(ownerA, 'registrationsList', {}), call(ownerB(), 'registrationsList', {})]);
      return [onA, onB].every((list) => list.items.some((x) => x.did === agent.did && x.status === 'pending'));
    });
    const policy = (who: string) => ({ capabilities: ['read_file' as const], maxRequestsPerHour: who === 'A' ? 10 : 20 });
    const results = await Promise.allSettled([
      call(ownerA, 'registrationsApprove', { did: agent.did, policy: policy('A') }),
      call(ownerB(), 'registrationsApprove', { did: agent.did, policy: policy('B') }),
    ]);
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ node: i === 0 ? 'A' : 'B', view: r.value }] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    assert.equal(won.length, 1, `exactly one approval wins: ${JSON.stringify(results.map((r) => r.status))}`);
    assert.equal(lost.length, 1);
    const refusal = await rpcError(Promise.reject(lost[0] as Error), 'the second approval');
    assert.equal(refusal.reason, 'conflict', refusal.message);
    assert.match(refusal.message, /no longer pending|not pending/);
    const winner = won[0]!;
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
    const views = await Promise.all([a, b, c].map((node) => call({ ...ownerA, client: node.client }, 'agentsGet', { did: agent.did })));
    for (const view of views) {
      assert.equal(view.status, 'approved');
      assert.equal(view.policy?.policyVersion, 1, 'one policy version');
      assert.equal(view.policy?.maxRequestsPerHour, policy(winner.node).maxRequestsPerHour, "the winner's policy on every node");
    }
  });
});
