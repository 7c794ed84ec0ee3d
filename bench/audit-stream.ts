/**
 * Audit-stream benchmark (broker/audit/streams/): what streaming every audit line to an HTTPS collector costs a
 * broker's intent throughput.
 *
 * Two brokers from the bench build, each with one real agent approved for list_files, on 127.0.0.1: `plain`
 * writes audit.log only; `streaming` also runs --audit-https to a collector on loopback (TLS with a throwaway CA,
 * in this process: it reads each NDJSON body, counts its lines and answers 204). One operation dispatches
 * CONCURRENCY intents over the broker's local socket and waits for all of them to succeed; the two cases are
 * measured in interleaved runs (bench/measure.ts), so the ratio streaming / plain is taken run by run: 0.95
 * would mean streaming costs 5 % of throughput. brokerCpuMsPerIntent is each broker's CPU time (from /proc) over
 * the whole measurement divided by its intents: on a machine shared with others a rate moves with the neighbours'
 * load, a broker's own CPU per intent much less. At the end the streaming broker's audit.log and what the
 * collector received are compared: the figure counts only if the stream kept up (`behindLines` near 0).
 */
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BrokerClient } from '../broker/cli/broker-client';
import { makeTestPki } from '../test/support/test-pki';
import { buildBundles, defaultDataRoot, killAllChildren, startBroker, startRealAgent, tempDir, waitFor, type BrokerHandle, type RealAgentHandle } from './broker-procs';
import { IntentDriver } from './intent-driver';
import { measure, ratioOf, type Figure, type Suite } from './measure';

const CONCURRENCY = 8;
const POLICY = { capabilities: ['list_files' as const], maxRequestsPerHour: 1_000_000_000, maxTokensPerDay: 1_000_000 };

/** The collector: counts the lines it is sent, stores nothing. */
function startCollector(cert: Buffer, key: Buffer): Promise<{ server: Server; port: number; lines: () => number }> {
  let lines = 0;
  const server = createServer({ cert, key }, (request, response) => {
    request.on('data', (chunk: Buffer) => {
      for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) lines++;
    });
    request.on('end', () => response.writeHead(204).end());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, lines: () => lines })));
}

interface Side {
  broker: BrokerHandle;
  client: BrokerClient;
  agent: RealAgentHandle;
  driver: IntentDriver;
  /** Intents that succeeded through this side, warm-up included. */
  succeeded: number;
}

/** Every temporary directory the suite made, removed at its end. */
const made: string[] = [];
const madeDir = (root: string, prefix: string) => {
  const dir = tempDir(root, prefix);
  made.push(dir);
  return dir;
};

async function startSide(root: string, name: string, args: string[]): Promise<Side> {
  const dataDir = madeDir(root, `audit-stream-${name}`);
  const broker = await startBroker({ dataDir, stderrPath: join(dataDir, 'broker.stderr.log'), args });
  const client = await BrokerClient.connect(dataDir);
  const stateDir = madeDir(root, `audit-stream-${name}-agent`);
  const agent = startRealAgent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir, workspace: madeDir(root, `audit-stream-${name}-ws`), stderrPath: join(stateDir, 'agent.stderr.log') });
  await waitFor(`the ${name} agent to authenticate (pending)`, () => agent.logged('auth.succeeded'), 15_000);
  await client.call('registrationsApprove', { did: agent.did, policy: POLICY });
  await waitFor(`the ${name} agent to renew its certificate`, () => agent.logged('auth.succeeded', (l) => l.policyVersion === 1), 15_000);
  return { broker, client, agent, driver: new IntentDriver(client), succeeded: 0 };
}

/** CONCURRENCY intents at once, all of which must succeed. */
const intents = (side: Side) => async () => {
  const outcomes = await Promise.all(Array.from({ length: CONCURRENCY }, () => side.driver.dispatch(side.agent.did)));
  const problem = outcomes.find((o) => o.state !== 'succeeded');
  if (problem) throw new Error(`an intent ended ${problem.state} (${problem.reason ?? ''})`);
  side.succeeded += CONCURRENCY;
};

/** The broker's CPU milliseconds per intent over the whole measurement: less sensitive than a rate to a busy neighbour. */
const cpuMsPerIntent = (side: Side, cpuBefore: number) => ((side.broker.cpuSeconds() - cpuBefore) * 1000) / side.succeeded;

const perIntent = (figure: Figure): Figure => ({ ...figure, median: figure.median * CONCURRENCY, min: figure.min * CONCURRENCY, max: figure.max * CONCURRENCY, runs: figure.runs.map((r) => r * CONCURRENCY) });

const auditLineCount = (dataDir: string) => readFileSync(join(dataDir, 'audit.log'), 'utf8').split('\n').length - 1;

export const auditStreamSuite: Suite = {
  name: 'audit-stream',
  async run(options) {
    const root = defaultDataRoot();
    await buildBundles();
    const pki = makeTestPki(madeDir(root, 'audit-stream-pki'));
    const collector = await startCollector(readFileSync(pki.serverCert), readFileSync(pki.serverKey));
    const sides: Side[] = [];
    try {
      const plain = await startSide(root, 'plain', []);
      sides.push(plain);
      const streaming = await startSide(root, 'streaming', ['--audit-https', `https://127.0.0.1:${collector.port}/audit`, '--audit-ca', pki.ca]);
      sides.push(streaming);
      const cpuBefore = sides.map((side) => side.broker.cpuSeconds());
      const figures = await measure(
        [
          { name: 'plain', op: intents(plain) },
          { name: 'streaming', op: intents(streaming) },
        ],
        options,
      );
      const written = auditLineCount(streaming.broker.dataDir);
      await waitFor('the collector to catch up', () => collector.lines() >= written, 30_000).catch(() => undefined);
      return {
        unit: `intents per second (an operation is ${CONCURRENCY} concurrent list_files intents)`,
        plain: perIntent(figures.plain!),
        streaming: perIntent(figures.streaming!),
        streamingOverPlain: ratioOf(figures.streaming!, figures.plain!),
        brokerCpuMsPerIntent: { plain: cpuMsPerIntent(plain, cpuBefore[0]!), streaming: cpuMsPerIntent(streaming, cpuBefore[1]!) },
        stream: { auditLines: written, delivered: collector.lines(), behindLines: Math.max(0, written - collector.lines()) },
      };
    } finally {
      for (const side of sides) {
        side.client.close();
        await side.agent.stop();
        await side.broker.stop();
      }
      killAllChildren();
      collector.server.closeAllConnections();
      await new Promise<void>((resolve) => collector.server.close(() => resolve()));
      for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    }
  },
};
