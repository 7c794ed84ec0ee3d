/**
 * Cluster benchmark (issue 20): broker nodes on one PostgreSQL and one nats-server, against one broker on SQLite,
 * in the same run.
 *
 * METHOD (the broker suite's, bench/broker.ts, where not said otherwise)
 *
 * Processes. Brokers and simulated agents from the bench's private esbuild bundle (bench/broker-procs.ts), every
 * child killed by pid at the end, every wait bounded. PostgreSQL 15 and nats-server are started by this suite on
 * 127.0.0.1 with the tests' helpers (test/support/postgres.ts with fsync on, as in production, and
 * test/support/nats.ts; bench/storage.ts imports them the same way). Node 0 is `broker start --database <pg>
 * --nats <url> --node-name node-0`; nodes 1 and 2 get a copy of its broker identity and operator key, as
 * test/support/cluster.ts and the README provision them, so every node signs as the one broker and the bench's
 * client (the host operator, an owner) connects to each node's local socket. The simulated agents
 * (bench/sim-agents.ts, two processes) are spread over the nodes in the fleet's global order (agent i on node
 * i mod nodes); after a connection that ends without a close frame (a node killed) an agent tries the next
 * node's URL, with HubClient's backoff (agent/reconnect-delay.ts).
 *
 * 1. Throughput (intents/s), 100 simulated agents, CONCURRENCY dispatch loops split over one client per node,
 *    each client dispatching round-robin to every agent (so with n nodes, (n-1)/n of the intents cross the bus to
 *    the node holding the agent and their end comes back as a hint). Configurations, one after the other (a
 *    configuration with fewer nodes is a cluster that has fewer nodes, not a bigger one left idle): one broker on
 *    SQLite (no --database, no NATS: the broker suite's throughput-100 setup), then 1, 2 and 3 nodes on
 *    PostgreSQL, nodes started as the configuration grows and the agents moved onto them. Each: the loops run
 *    without a break through a warm-up (warmupMs and until CONCURRENCY intents have ended, warmupMaxMs at most: on
 *    a loaded machine one intent can outlast a window) and `runs` consecutive windows of runMs; a run's rate is the
 *    intents that ended succeeded in its window. Ratios are of medians (the configurations are not interleaved, so run-by-run ratios
 *    would pair unrelated rounds); each configuration reports the CPU used per process family over its runs
 *    (brokers, PostgreSQL's server processes, nats-server, simulated agents, this process, everything else) in
 *    cores, which says what limits it on this machine.
 * 2. Revocation fan-out: the fleet grows to fanOutAgents (10 000, 1 000 with --quick, --cluster-agents N) over the
 *    3 nodes (the 100 above, approved, and the rest registrations left pending: a broker pushes a new list to every
 *    authenticated agent connection, pending ones included, and approving 10 000 agents would take this machine
 *    minutes), in chunks of rampChunk; a chunk not all authenticated within rampTimeoutMs ends the growth (its
 *    stragglers are stopped and forgotten: the figure is for the largest fleet this machine authenticated in
 *    time, said in the notes); then, `rounds` times, a grant made
 *    beforehand is revoked through node 1 (grantsRevoke over RPC) and each agent records when a revocation list
 *    newer than the one it held arrives (wall clock, before it opens it; the processes share the clock). Reported
 *    per round and pooled: seconds from the call returning (node 1 pushes to its own agents before it returns,
 *    hence negative values) and from the call starting, p50 / p99 / max.
 * 3. Reconnect storm: node 2 is killed (SIGKILL by pid); seconds from the kill until each of its agents is
 *    authenticated on node 0 or 1 (percentiles, max), the close codes and failed attempts the agents saw. Its
 *    agents see 1006 and move to the next URL (node 0): the whole storm lands on one surviving node, as a fleet
 *    configured with one URL list in the same order would.
 *
 * CPU in cores per window (cpuCores): brokers, PostgreSQL (postmaster with its reaped children, and its live
 * server processes), nats-server, simulated agents, this process, and `other` = the rest of the machine
 * (/proc/stat): above ~0.25 on a 2-core machine a neighbour took the CPU and the absolute rates are understated.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BrokerClient } from '../broker/cli/broker-client';
import { BROKER_KEY_FILE } from '../broker/broker-identity';
import { AUTHORITY_FILE } from '../broker/identity/authority-file';
import { loadLocalOperator } from '../broker/local-operator';
import { startNats, type NatsServer } from '../test/support/nats';
import { startPostgres, type PostgresServer } from '../test/support/postgres';
import { approveAll, countsSince, mergeCounts, SimFleet, sum, type BrokerBenchOptions } from './broker';
import { buildBundles, defaultDataRoot, killAllChildren, machineCpuSeconds, procCpuSeconds, sleep, startBroker, tempDir, type BrokerHandle } from './broker-procs';
import { IntentDriver, percentile, type Outcome } from './intent-driver';
import { summarize, type MeasureOptions, type Suite } from './measure';

const THROUGHPUT_AGENTS = 100;
/** Dispatch loops in all, as the broker suite's throughput with 100 agents. */
const CONCURRENCY = 128;
const SIM_PROCESSES = 2;
/** What every node shares with the first (test/support/cluster.ts, README "Running several brokers"). */
const SHARED_FILES = [BROKER_KEY_FILE, AUTHORITY_FILE, 'operator.key'];
const TARGETS = { fanOutP99Seconds: 1 };

interface Plan {
  warmupMs: number;
  warmupMaxMs: number;
  runMs: number;
  fanOutAgents: number;
  fanOutRounds: number;
  rampConcurrency: number;
  /** The fleet grows in chunks of this many; a chunk not all authenticated in rampTimeoutMs ends the growth. */
  rampChunk: number;
  rampTimeoutMs: number;
  listTimeoutMs: number;
  stormTimeoutMs: number;
}
const QUICK: Plan = { warmupMs: 1_000, warmupMaxMs: 8_000, runMs: 1_000, fanOutAgents: 1_000, fanOutRounds: 2, rampConcurrency: 32, rampChunk: 450, rampTimeoutMs: 15_000, listTimeoutMs: 10_000, stormTimeoutMs: 20_000 };
const FULL: Plan = { warmupMs: 1_500, warmupMaxMs: 15_000, runMs: 2_000, fanOutAgents: 10_000, fanOutRounds: 3, rampConcurrency: 32, rampChunk: 2_475, rampTimeoutMs: 45_000, listTimeoutMs: 20_000, stormTimeoutMs: 60_000 };

const wallNow = (): number => performance.timeOrigin + performance.now();

/** The parent pid of a process, from /proc/<pid>/stat; undefined once it is gone. */
function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of PostgreSQL's server: the postmaster's own and its reaped children's (cutime, cstime: a backend
 * whose client went away, e.g. a killed node's, keeps counting), plus its live server processes'.
 */
function postgresCpuSeconds(port: number): number {
  const [postmaster, ...children] = postgresPids(port);
  if (postmaster === undefined) return 0;
  let own = 0;
  try {
    const stat = readFileSync(`/proc/${postmaster}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    own = (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / CLK_TCK;
  } catch {
    return 0;
  }
  return own + cpuOf(children);
}

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
})();

/** PostgreSQL's postmaster (the one listening on `port`) first, then its server processes (backends, WAL writer...). */
function postgresPids(port: number): number[] {
  const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  const postmaster = pids.find((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv[0]?.endsWith('/postgres') && argv.includes('-p') && argv[argv.indexOf('-p') + 1] === String(port);
    } catch {
      return false;
    }
  });
  if (postmaster === undefined) return [];
  return [postmaster, ...pids.filter((pid) => parentPid(pid) === postmaster)];
}

const cpuOf = (pids: readonly number[]): number =>
  pids.reduce((a, pid) => {
    try {
      return a + procCpuSeconds(pid);
    } catch {
      return a; // exited meanwhile
    }
  }, 0);

/** Cores used over a window by each family of processes: what a figure was limited by on this machine. */
class CpuShares {
  readonly #start = performance.now();
  readonly #self = process.cpuUsage();
  readonly #machine = machineCpuSeconds().busy;
  readonly #brokers: number;
  readonly #postgres: number;
  readonly #nats: number;

  constructor(
    private readonly who: { brokers: number[]; postgresPort?: number; natsPid?: number },
    private readonly sim0: number,
  ) {
    this.#brokers = cpuOf(who.brokers);
    this.#postgres = who.postgresPort ? postgresCpuSeconds(who.postgresPort) : 0;
    this.#nats = who.natsPid ? cpuOf([who.natsPid]) : 0;
  }

  end(sim1: number): Record<string, number> {
    const wall = (performance.now() - this.#start) / 1000;
    const self = process.cpuUsage(this.#self);
    const shares = {
      brokers: (cpuOf(this.who.brokers) - this.#brokers) / wall,
      postgres: this.who.postgresPort ? (postgresCpuSeconds(this.who.postgresPort) - this.#postgres) / wall : 0,
      nats: this.who.natsPid ? (cpuOf([this.who.natsPid]) - this.#nats) / wall : 0,
      simAgents: (sim1 - this.sim0) / wall,
      bench: (self.user + self.system) / 1e6 / wall,
      machine: (machineCpuSeconds().busy - this.#machine) / wall,
    };
    return { ...shares, other: Math.max(0, shares.machine - shares.brokers - shares.postgres - shares.nats - shares.simAgents - shares.bench), wallSeconds: wall };
  }
}

function percentiles(values: readonly number[]): { p50: number; p90: number; p99: number; max: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN, n: sorted.length };
}

/**
 * One configuration's throughput: the dispatch loops (split over the clients, each dispatching round-robin to
 * every agent) run without a break through a warm-up and then `runs` consecutive windows of runMs; a run's rate is
 * the intents that ended succeeded inside its window. The warm-up lasts warmupMs and until CONCURRENCY intents have
 * ended (the pipeline is full: on a loaded machine an intent can take longer than a window), warmupMaxMs at most.
 */
async function throughput(drivers: IntentDriver[], agents: readonly string[], plan: Plan, runs: number, cpu: () => Promise<CpuShares>, simCpu: () => Promise<number>) {
  const loops = Math.ceil(CONCURRENCY / drivers.length);
  const start = performance.now();
  let measuredFrom = Number.POSITIVE_INFINITY;
  let warmed = 0;
  let window: CpuShares | undefined;
  const perRun = Array.from({ length: runs }, () => 0);
  const problems: Record<string, number> = {};
  const latencies: number[] = [];
  const startWindows = (now: number) => {
    if (measuredFrom !== Number.POSITIVE_INFINITY) return;
    measuredFrom = now;
    void cpu().then((w) => (window = w));
  };
  const warmupTimer = setTimeout(() => startWindows(performance.now()), plan.warmupMaxMs);
  const onOutcome = (x: Outcome) => {
    if (x.endedAt < measuredFrom) {
      if (++warmed >= CONCURRENCY && x.endedAt - start >= plan.warmupMs) startWindows(x.endedAt);
      return;
    }
    const run = Math.floor((x.endedAt - measuredFrom) / plan.runMs);
    if (run >= runs) return;
    if (x.state !== 'succeeded') {
      const key = x.reason ? `${x.state}:${x.reason}` : x.state;
      problems[key] = (problems[key] ?? 0) + 1;
      return;
    }
    perRun[run]!++;
    latencies.push(x.endedAt - x.startedAt);
  };
  const done = () => performance.now() >= measuredFrom + runs * plan.runMs;
  let next = 0;
  const loop = async (driver: IntentDriver) => {
    while (!done()) onOutcome(await driver.dispatch(agents[next++ % agents.length]!));
  };
  await Promise.all(drivers.flatMap((d) => Array.from({ length: loops }, () => loop(d))));
  clearTimeout(warmupTimer);
  const sorted = latencies.sort((a, b) => a - b);
  return {
    intentsPerSecond: summarize(perRun.map((n) => n / (plan.runMs / 1000))),
    latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length },
    warmupSeconds: (measuredFrom - start) / 1000,
    notSucceeded: problems,
    cpuCores: window?.end(await simCpu()),
  };
}

function copyIdentity(from: string, to: string): void {
  for (const file of SHARED_FILES) if (existsSync(join(from, file))) copyFileSync(join(from, file), join(to, file));
}

export async function runCluster(options: MeasureOptions, b: BrokerBenchOptions): Promise<Record<string, unknown>> {
  const log = options.log ?? (() => {});
  const plan = { ...(b.quick ? QUICK : FULL) };
  if (b.clusterAgents !== undefined) plan.fanOutAgents = b.clusterAgents;
  const runs = options.runs;
  const dataRoot = b.dataRoot ?? defaultDataRoot();
  const notes: string[] = [];
  const dirs: string[] = [];
  const out: Record<string, unknown> = {};
  const brokers: BrokerHandle[] = [];
  const clients: BrokerClient[] = [];
  let postgres: PostgresServer | undefined;
  let nats: NatsServer | undefined;
  let fleet: SimFleet | undefined;
  const simCpu = async () => sum(await fleet!.stats(), 'cpuSeconds');

  const build = await buildBundles();
  log(`  bundles built in ${build.ms} ms`);
  try {
    fleet = new SimFleet(SIM_PROCESSES);

    // 1a. One broker on SQLite, the reference.
    const sqliteDir = tempDir(dataRoot, 'cluster-sqlite');
    dirs.push(sqliteDir);
    const sqlite = await startBroker({ dataDir: sqliteDir, stderrPath: join(sqliteDir, 'broker.stderr.log') });
    brokers.push(sqlite);
    const sqliteClient = await BrokerClient.connect(sqliteDir);
    clients.push(sqliteClient);
    await fleet.configure(sqlite.url, sqlite.did);
    await fleet.add(THROUGHPUT_AGENTS);
    const agents = [...fleet.dids];
    const ramp = await fleet.connect(64, plan.rampTimeoutMs);
    if (ramp.authenticated < ramp.count) throw new Error(`only ${ramp.authenticated} of ${ramp.count} agents authenticated on the SQLite broker`);
    await approveAll(sqliteClient, agents);
    if (!(await fleet.waitAuth('approved', plan.rampTimeoutMs)).ok) throw new Error('agents not approved on the SQLite broker in time');
    log('  throughput: 1 broker on SQLite');
    const throughputs: Record<string, Awaited<ReturnType<typeof throughput>>> = {};
    throughputs.sqlite1 = await throughput([new IntentDriver(sqliteClient)], agents, plan, runs, async () => new CpuShares({ brokers: [sqlite.pid] }, await simCpu()), simCpu);

    // 1b. The cluster grows from 1 to 3 nodes on PostgreSQL.
    postgres = await startPostgres({ fsync: true });
    nats = await startNats();
    const databaseUrl = await postgres.createDatabase();
    const nodeArgs = (i: number) => ['--database', databaseUrl, '--nats', nats!.url, '--node-name', `node-${i}`];
    const nodes: BrokerHandle[] = [];
    const nodeClients: BrokerClient[] = [];
    const addNode = async (): Promise<void> => {
      const i = nodes.length;
      const dataDir = tempDir(dataRoot, `cluster-node${i}`);
      dirs.push(dataDir);
      if (i > 0) copyIdentity(nodes[0]!.dataDir, dataDir);
      const node = await startBroker({ dataDir, stderrPath: join(dataDir, 'broker.stderr.log'), args: nodeArgs(i) });
      brokers.push(node);
      nodes.push(node);
      const client = await BrokerClient.connect(dataDir);
      clients.push(client);
      nodeClients.push(client);
    };
    const spreadOver = async (count: number): Promise<void> => {
      await fleet!.retarget(nodes.slice(0, count).map((n) => n.url), nodes[0]!.did);
      if (!(await fleet!.waitAuth('approved', plan.rampTimeoutMs)).ok) throw new Error(`agents not back on ${count} nodes in time`);
    };
    const who = () => ({ brokers: nodes.map((n) => n.pid), postgresPort: postgres!.port, natsPid: nats!.pid });
    await addNode();
    await fleet.retarget([nodes[0]!.url], nodes[0]!.did);
    if (!(await fleet.waitAuth(undefined, plan.rampTimeoutMs)).ok) throw new Error('agents did not register with node 0 in time');
    await approveAll(nodeClients[0]!, agents);
    await spreadOver(1);
    sqliteClient.close();
    await sqlite.stop();
    for (const count of [1, 2, 3]) {
      while (nodes.length < count) await addNode();
      await spreadOver(count);
      log(`  throughput: ${count} node(s) on PostgreSQL`);
      throughputs[`postgres${count}`] = await throughput(
        nodeClients.slice(0, count).map((c) => new IntentDriver(c)),
        agents,
        plan,
        runs,
        async () => new CpuShares(who(), await simCpu()),
        simCpu,
      );
    }
    const median = (k: string) => throughputs[k]!.intentsPerSecond.median;
    out.throughput = {
      agents: THROUGHPUT_AGENTS,
      concurrency: CONCURRENCY,
      ...throughputs,
      ratios: {
        postgres3VsPostgres1: median('postgres3') / median('postgres1'),
        postgres2VsPostgres1: median('postgres2') / median('postgres1'),
        postgres1VsSqlite1: median('postgres1') / median('sqlite1'),
        postgres3VsSqlite1: median('postgres3') / median('sqlite1'),
        note: 'ratios of medians: the configurations run one after the other, not interleaved',
      },
    };

    // 2. Revocation fan-out to the fleet grown over the 3 nodes.
    let target = plan.fanOutAgents;
    // ~200 KB per agent across brokers and simulated agents, half of free memory at most (as the broker suite).
    const byMemory = Math.floor(freemem() / 2 / (200 * 1024));
    if (target > byMemory) {
      notes.push(`fan-out target ${target} capped to ${byMemory} by free memory`);
      target = byMemory;
    }
    log(`  fan-out: ${target} agents over 3 nodes`);
    const rampCpu = new CpuShares(who(), await simCpu());
    const grown = { count: 0, authenticated: 0, seconds: 0, chunks: [] as { agents: number; authenticated: number; seconds: number }[] };
    while (fleet.dids.length < target) {
      await fleet.add(Math.min(plan.rampChunk, target - fleet.dids.length));
      const chunk = await fleet.connect(plan.rampConcurrency, plan.rampTimeoutMs);
      grown.count += chunk.count;
      grown.authenticated += chunk.authenticated;
      grown.seconds += chunk.seconds;
      grown.chunks.push({ agents: chunk.count, authenticated: chunk.authenticated, seconds: chunk.seconds });
      log(`    ${fleet.dids.length} agents, ${Math.round(chunk.authenticated / chunk.seconds)} handshakes/s`);
      if (chunk.authenticated < chunk.count) {
        // The largest fleet this machine authenticates in time: the rest stop, and are not counted below.
        const dropped = await fleet.dropUnauthenticated();
        notes.push(`fan-out fleet stopped growing at ${fleet.dids.length} agents (of ${target}): a chunk of ${chunk.count} had ${chunk.authenticated} authenticated after ${plan.rampTimeoutMs} ms; its ${dropped} others were stopped`);
        break;
      }
    }
    const rampShares = rampCpu.end(await simCpu());
    const spread = mergeCounts(await fleet.stats(), 'authenticatedByUrl');
    const operator = loadLocalOperator(nodes[0]!.dataDir).did;
    const grants: string[] = [];
    for (let r = 0; r < plan.fanOutRounds; r++) {
      grants.push((await nodeClients[0]!.call('grantsCreate', { user: operator, agent: '*', capabilities: ['list_files'], validForMs: 3_600_000 })).id);
    }
    await sleep(1_000);
    const rounds: Record<string, unknown>[] = [];
    const fromReturn: number[] = [];
    const fromCall: number[] = [];
    for (const id of grants) {
      await fleet.markLists();
      const calledAt = wallNow();
      await nodeClients[1]!.call('grantsRevoke', { id });
      const returnedAt = wallNow();
      const cpu = new CpuShares(who(), await simCpu());
      const lists = await fleet.waitLists(plan.listTimeoutMs);
      const got = lists.listAt.filter((t): t is number => t !== null);
      const ret = got.map((t) => (t - returnedAt) / 1000);
      const call = got.map((t) => (t - calledAt) / 1000);
      fromReturn.push(...ret);
      fromCall.push(...call);
      rounds.push({
        agents: lists.listAt.length,
        received: got.length,
        allInTime: lists.ok,
        callSeconds: (returnedAt - calledAt) / 1000,
        secondsFromReturn: percentiles(ret),
        secondsFromCall: percentiles(call),
        cpuCores: cpu.end(sum(lists.stats, 'cpuSeconds')),
        listsRefused: sum(lists.stats, 'listsRefused'),
      });
      await sleep(500);
    }
    const pooled = percentiles(fromReturn);
    out.fanOut = {
      agents: fleet.dids.length,
      asked: plan.fanOutAgents,
      approved: THROUGHPUT_AGENTS,
      authenticatedByNode: Object.fromEntries(nodes.map((n, i) => [`node-${i}`, spread[n.url] ?? 0])),
      ramp: { ...grown, handshakesPerSecond: grown.authenticated / grown.seconds, cpuCores: rampShares },
      revokedThrough: 'node-1',
      rounds,
      pooledSecondsFromReturn: pooled,
      pooledSecondsFromCall: percentiles(fromCall),
      target: { p99Seconds: TARGETS.fanOutP99Seconds },
      meets: pooled.p99 <= TARGETS.fanOutP99Seconds,
    };

    // 3. Reconnect storm: node 2 killed.
    log('  reconnect storm: node 2 killed');
    const before = await fleet.stats();
    const victim = nodes[2]!;
    const onVictim = mergeCounts(before, 'authenticatedByUrl')[victim.url] ?? 0;
    const closes0 = mergeCounts(before);
    const failures0 = mergeCounts(before, 'failures');
    const attempts0 = mergeCounts(before, 'attemptsToAuthenticate');
    const survivors = { brokers: nodes.slice(0, 2).map((n) => n.pid), postgresPort: postgres.port, natsPid: nats.pid };
    const cpu = new CpuShares(survivors, sum(before, 'cpuSeconds'));
    const killedAt = wallNow();
    victim.child.kill('SIGKILL');
    // Its agents first notice it is gone (each socket closes): until then they still count as authenticated.
    const noticedBy = Date.now() + 10_000;
    while (Date.now() < noticedBy && (mergeCounts(await fleet.stats(), 'authenticatedByUrl')[victim.url] ?? 0) > 0) await sleep(20);
    const wait = await fleet.waitAuth(undefined, plan.stormTimeoutMs);
    const shares = cpu.end(sum(wait.stats, 'cpuSeconds'));
    const times = wait.lastAuthAt.filter((t) => t >= killedAt).map((t) => (t - killedAt) / 1000);
    const after = mergeCounts(wait.stats, 'authenticatedByUrl');
    out.storm = {
      agents: fleet.dids.length,
      onKilledNode: onVictim,
      reauthenticated: times.length,
      allAuthenticated: wait.ok,
      timeoutMs: plan.stormTimeoutMs,
      secondsFromKill: percentiles(times),
      authenticatedByNodeAfter: Object.fromEntries(nodes.map((n, i) => [`node-${i}`, after[n.url] ?? 0])),
      closeCodesSeenByAgents: countsSince(closes0, mergeCounts(wait.stats)),
      failedAttempts: countsSince(failures0, mergeCounts(wait.stats, 'failures')),
      attemptsToReauthenticate: countsSince(attempts0, mergeCounts(wait.stats, 'attemptsToAuthenticate')),
      cpuCores: shares,
      backoff: 'agent/reconnect-delay.ts as HubClient has it: after a 1006, 250-500 ms, then 250 ms to 1, 2, 4... s (full jitter); each failed attempt moves to the next node URL',
    };
  } catch (err) {
    notes.push(`failed: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  } finally {
    for (const c of clients) c.close();
    await fleet?.stop().catch(() => undefined);
    for (const broker of brokers) await broker.stop().catch(() => undefined);
    killAllChildren();
    await nats?.close().catch(() => undefined);
    await postgres?.stop().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  out.setup = {
    postgres: 'PostgreSQL 15 (test/support/postgres.ts), 127.0.0.1, fsync on',
    nats: 'nats-server (test/support/nats.ts), 127.0.0.1',
    nodes: 'broker start --database <pg> --nats <url> --node-name node-i, identity and operator key copied from node 0 (test/support/cluster.ts)',
    simProcesses: SIM_PROCESSES,
    quick: b.quick,
  };
  out.notes = notes;
  return out;
}

export function clusterSuite(b: BrokerBenchOptions): Suite {
  return { name: 'cluster', run: (options) => runCluster(options, b) };
}
