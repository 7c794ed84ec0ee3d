/**
 * Benchmark entry point: `npm run -s bench [-- --quick] [-- --runs N] [-- --suite NAME]`.
 * (`-s` keeps npm's own "> vaultysclaw bench" banner off stdout.)
 *
 * Prints exactly one JSON document on stdout:
 *   { machine: {node, cpus, cpuModel}, method: {...}, <suite name>: <suite result>, ... }
 * Progress goes to stderr. Never part of `npm test`: it takes a few minutes
 * (under one with --quick) and its numbers depend on the machine.
 *
 * Suites: identity (bench/identity.ts, in-process), broker (bench/broker.ts:
 * a real broker, a real agent and simulated agents on 127.0.0.1; its method is
 * written at the top of that file), sandbox (bench/sandbox.ts: a command in
 * bubblewrap against a plain spawn of it) and egress (bench/egress.ts: a loopback
 * HTTP GET through the egress bridge and proxy against a direct one), and metrics (bench/metrics.ts: intent
 * throughput of a broker with --metrics scraped against one without, in the same run), and storage (bench/storage.ts:
 * the query layer against raw better-sqlite3, and PostgreSQL against SQLite, in the same run), and cluster
 * (bench/cluster.ts: throughput of 1, 2 and 3 broker nodes on PostgreSQL and NATS against one on SQLite, revocation
 * fan-out to 10 000 agents over 3 nodes, the reconnect storm after one node is killed).
 *
 * To add a suite, write bench/<name>.ts exporting a Suite (see bench/measure.ts)
 * and add it to suites() below.
 */
import { mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { brokerSuite, type BrokerBenchOptions } from './broker';
import { identitySuite } from './identity';
import type { MeasureOptions, Suite } from './measure';
import { sandboxSuite } from './sandbox';
import { egressSuite } from './egress';
import { auditStreamSuite } from './audit-stream';
import { metricsSuite } from './metrics';
import { storageSuite } from './storage';
import { clusterSuite } from './cluster';

const SUITE_NAMES = ['identity', 'broker', 'sandbox', 'egress', 'audit-stream', 'metrics', 'storage', 'cluster'] as const;

function suites(broker: BrokerBenchOptions): readonly Suite[] {
  return [identitySuite, brokerSuite(broker), sandboxSuite, egressSuite, auditStreamSuite, metricsSuite, storageSuite, clusterSuite(broker)];
}

const FULL = { runs: 5, runMs: 400, warmupMs: 300, warmupOps: 1000 };
const QUICK = { runs: 3, runMs: 150, warmupMs: 100, warmupOps: 200 };

const USAGE = `usage: node --import tsx bench/main.ts [--quick] [--runs N] [--suite NAME]... [broker options]
  --quick       ${QUICK.runs} runs of ${QUICK.runMs} ms, warm-up ${QUICK.warmupMs} ms / ${QUICK.warmupOps} calls per figure;
                the broker suite shrinks to 1 000 agents and fewer intents (both suites together < 1 min)
  --runs N      timed runs per figure (default ${FULL.runs}, ${QUICK.runs} with --quick)
  --suite NAME  run only this suite (repeatable); suites: ${SUITE_NAMES.join(', ')}
broker suite:
  --agents N          connection-scale target (default 10000, 1000 with --quick)
  --sim-processes N   processes holding the simulated agents, 1 to 3 (default 2)
  --data-root DIR     where the temporary data directories go (default the OS temp dir)
  --cpu-prof DIR      run the broker under node --cpu-prof, profiles in DIR, summaries per phase in the JSON
cluster suite (--data-root applies too):
  --cluster-agents N  simulated agents over 3 nodes for the revocation fan-out and the reconnect storm
                      (default 10000, 1000 with --quick)`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values: {
    quick?: boolean;
    runs?: string;
    suite?: string[];
    help?: boolean;
    agents?: string;
    'sim-processes'?: string;
    'data-root'?: string;
    'cpu-prof'?: string;
    'cluster-agents'?: string;
  };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        quick: { type: 'boolean' },
        runs: { type: 'string' },
        suite: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
        agents: { type: 'string' },
        'sim-processes': { type: 'string' },
        'data-root': { type: 'string' },
        'cpu-prof': { type: 'string' },
        'cluster-agents': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stderr.write(`${USAGE}\n`);
    return;
  }

  const base = values.quick ? QUICK : FULL;
  let runs = base.runs;
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1 || runs > 1000) fail(`--runs must be an integer from 1 to 1000, got ${values.runs}`);
  }
  const selected = values.suite ?? [...SUITE_NAMES];
  for (const name of selected) if (!(SUITE_NAMES as readonly string[]).includes(name)) fail(`unknown suite ${name}`);
  const integer = (text: string | undefined, flag: string, min: number, max: number): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) fail(`${flag} must be an integer from ${min} to ${max}, got ${text}`);
    return n;
  };
  const broker: BrokerBenchOptions = {
    quick: values.quick ?? false,
    agents: integer(values.agents, '--agents', 100, 100_000),
    simProcesses: integer(values['sim-processes'], '--sim-processes', 1, 3),
    dataRoot: values['data-root'] ? resolve(values['data-root']) : undefined,
    cpuProfDir: values['cpu-prof'] ? resolve(values['cpu-prof']) : undefined,
    clusterAgents: integer(values['cluster-agents'], '--cluster-agents', 100, 100_000),
  };
  if (broker.cpuProfDir) mkdirSync(broker.cpuProfDir, { recursive: true });
  const SUITES = suites(broker);

  const options: MeasureOptions = {
    runs,
    runMs: base.runMs,
    warmupMs: base.warmupMs,
    warmupOps: base.warmupOps,
    log: (line) => process.stderr.write(`${line}\n`),
  };
  const cpuList = cpus();
  const output: Record<string, unknown> = {
    machine: { node: process.version, cpus: cpuList.length, cpuModel: cpuList[0]?.model ?? 'unknown' },
    method: {
      unit: 'operations per second (ratios are dimensionless)',
      runs,
      runMs: options.runMs,
      warmup: `per figure: at least ${options.warmupMs} ms and ${options.warmupOps} calls, at most ${5 * options.warmupMs} ms`,
      quick: values.quick ?? false,
      clock: 'process.hrtime.bigint',
      scheduling: 'warm-up per figure, then runs interleaved round-robin across figures (order rotated each round)',
      figure: '{median, min, max, spread = (max - min) / median, runs, cpuShare = lowest process CPU time / wall time over the runs}',
      ratios: 'computed run by run against the raw Ed25519 ceiling of the same round; compare ratios, not absolute rates',
    },
  };

  const started = process.hrtime.bigint();
  for (const suite of SUITES) {
    if (!selected.includes(suite.name)) continue;
    process.stderr.write(`suite ${suite.name}\n`);
    output[suite.name] = await suite.run(options);
  }
  process.stderr.write(`done in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s\n`);
  process.stdout.write(`${compactNumberArrays(JSON.stringify(output, round, 2))}\n`);
}

/** Rates to 3 significant digits, which is more than the noise allows anyway. */
function round(_key: string, value: unknown): unknown {
  if (typeof value !== 'number' || Number.isInteger(value) || !Number.isFinite(value)) return value;
  return Number(value.toPrecision(3));
}

/** Puts arrays of numbers (the per-run values) on one line. */
function compactNumberArrays(json: string): string {
  return json.replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g, (_m, body: string) => `[${body.split(/,\s*/).join(', ')}]`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
