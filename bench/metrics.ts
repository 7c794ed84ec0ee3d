/**
 * Metrics benchmark (issue 21): what `broker start --metrics` costs in intent throughput while /metrics is scraped.
 *
 * Two brokers from the bench build (bench/broker-procs.ts) run side by side in one run, each with one real agent
 * approved for list_files and the bench process as its owner client (bench/intent-driver.ts): `plain` without
 * --metrics, `metrics` with --metrics 127.0.0.1:0, scraped every SCRAPE_MS for the whole measurement (a
 * Prometheus scrapes every 15 s by default: this is 15 times harsher). One operation is CONCURRENCY intents
 * dispatched at once to their final state; bench/measure.ts interleaves the runs of the two figures (the other
 * broker idles meanwhile) and computes metricsOverPlain run by run: 0.95 would mean a 5 % cost. The brokers' own
 * CPU time per intent over the whole measurement (brokerCpuMsPerIntent) says the same less noisily on a busy machine,
 * and scrapeCpuMs what one scrape costs the broker (IDLE_SCRAPES in a row once the measurement is over), so the
 * cost at any other scrape interval follows.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BrokerClient } from '../broker/cli/broker-client';
import { buildBundles, defaultDataRoot, startBroker, startRealAgent, tempDir, waitFor, type BrokerHandle, type RealAgentHandle } from './broker-procs';
import { IntentDriver } from './intent-driver';
import { measure, ratioOf, type Suite } from './measure';

const SCRAPE_MS = 1000;
/** Scrapes in a row, after the measurement, on the idle scraped broker: the CPU one scrape costs it. */
const IDLE_SCRAPES = 50;
const CONCURRENCY = 4;
const POLICY = { capabilities: ['list_files' as const], maxRequestsPerHour: 1_000_000_000, maxTokensPerDay: 1_000_000 };

interface Side {
  broker: BrokerHandle;
  agent: RealAgentHandle;
  client: BrokerClient;
  driver: IntentDriver;
  dirs: string[];
  /** Intents completed in bursts so far: with the broker's CPU seconds, its CPU per intent. */
  intents: number;
}

async function side(name: string, args: string[]): Promise<Side> {
  const root = defaultDataRoot();
  const dataDir = tempDir(root, `metrics-${name}`);
  const work = tempDir(root, `metrics-${name}-agent`);
  const broker = await startBroker({ dataDir, stderrPath: join(work, 'broker.log'), args });
  const agent = startRealAgent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: join(work, 'state'), workspace: join(work, 'ws'), stderrPath: join(work, 'agent.log') });
  const client = await BrokerClient.connect(dataDir);
  await waitFor('the agent pending', async () => (await client.call('registrationsList', {})).items.some((r) => r.did === agent.did && r.online), 20_000);
  await client.call('registrationsApprove', { did: agent.did, policy: POLICY });
  await waitFor('the agent approved', () => agent.logged('auth.succeeded', (l) => l.policyVersion === 1), 20_000);
  return { broker, agent, client, driver: new IntentDriver(client), dirs: [dataDir, work], intents: 0 };
}

/** CONCURRENCY intents at once; throws unless every one succeeded (a failing broker must not look fast). */
async function burst(s: Side): Promise<void> {
  const outcomes = await Promise.all(Array.from({ length: CONCURRENCY }, () => s.driver.dispatch(s.agent.did)));
  const bad = outcomes.find((o) => o.state !== 'succeeded');
  if (bad) throw new Error(`an intent ended ${bad.state} (${bad.reason ?? ''})`);
  s.intents += CONCURRENCY;
}

/** The broker's CPU milliseconds per intent since `from` (its CPU seconds and intents then): less sensitive than throughput to a busy machine. */
function cpuMsPerIntent(s: Side, from: { cpu: number; intents: number }): number {
  return ((s.broker.cpuSeconds() - from.cpu) * 1000) / (s.intents - from.intents);
}

export const metricsSuite: Suite = {
  name: 'metrics',
  async run(options) {
    await buildBundles();
    const sides: Side[] = [];
    let scraper: NodeJS.Timeout | undefined;
    try {
      sides.push(await side('plain', []));
      sides.push(await side('scraped', ['--metrics', '127.0.0.1:0']));
      const [plain, scraped] = sides as [Side, Side];
      const listening = readFileSync(join(scraped.dirs[1]!, 'broker.log'), 'utf8').split('\n').find((l) => l.includes('"ops.listening"'));
      const url = `${String((JSON.parse(listening ?? '{}') as { url?: string }).url)}/metrics`;
      let scrapes = 0;
      let scrapeFailures = 0;
      let bytes = 0;
      scraper = setInterval(() => {
        fetch(url)
          .then(async (r) => {
            bytes = (await r.text()).length;
            if (r.status === 200) scrapes++;
            else scrapeFailures++;
          })
          .catch(() => scrapeFailures++);
      }, SCRAPE_MS);
      const mark = (s: Side) => ({ cpu: s.broker.cpuSeconds(), intents: s.intents });
      const from = { plain: mark(plain), scraped: mark(scraped) };
      const figures = await measure(
        [
          { name: 'plain', op: () => burst(plain) },
          { name: 'metrics', op: () => burst(scraped) },
        ],
        options,
      );
      clearInterval(scraper);
      const cpu = { plain: cpuMsPerIntent(plain, from.plain), metrics: cpuMsPerIntent(scraped, from.scraped) };
      const idle = scraped.broker.cpuSeconds();
      for (let i = 0; i < IDLE_SCRAPES; i++) bytes = (await (await fetch(url)).text()).length;
      const scrapeCpuMs = ((scraped.broker.cpuSeconds() - idle) * 1000) / IDLE_SCRAPES;
      return {
        method: { operation: `${CONCURRENCY} list_files intents at once, to their final state, on one real agent`, scrapeEveryMs: SCRAPE_MS },
        intentsPerSecond: { plain: scale(figures.plain!, CONCURRENCY), metrics: scale(figures.metrics!, CONCURRENCY) },
        metricsOverPlain: ratioOf(figures.metrics!, figures.plain!),
        // Warm-up included; the scraped broker's CPU includes serving every scrape.
        brokerCpuMsPerIntent: { ...cpu, metricsOverPlain: cpu.metrics / cpu.plain },
        scrapes,
        scrapeFailures,
        scrapeCpuMs,
        scrapeBytes: bytes,
      };
    } finally {
      clearInterval(scraper);
      for (const s of sides) {
        s.client.close();
        await s.agent.stop();
        await s.broker.stop();
        for (const dir of s.dirs) rmSync(dir, { recursive: true, force: true });
      }
    }
  },
};

function scale<F extends { median: number; min: number; max: number; runs: number[] }>(figure: F, by: number): F {
  return { ...figure, median: figure.median * by, min: figure.min * by, max: figure.max * by, runs: figure.runs.map((r) => r * by) };
}
