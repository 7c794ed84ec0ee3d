import { readFileSync } from 'node:fs';
import type pino from 'pino';
import type { PendingLimits } from './agents/pending-registrations';
import type { ConnectionLimits } from './hub/connection-caps';
import type { RefusalAuditLimits } from './hub/refusal-audit';
import { Broker } from './broker';
import { loadBrokerIdentity } from './broker-identity';
import { checkOwnChain, reportExpiry } from './identity/own-chain';
import { loadLocalOperator } from './local-operator';
import { createBrokerLogger } from './log';
import { listenLocalSocket } from './rpc/local-socket';
import { storageFailure } from '../core/storage/storage-failure';
import { ensurePrivateDirectory } from '../core/storage/private-files';
import { audit } from './audit/audit-log';
import type { OpsOptions } from './ops/ops-options';
import { startOperations } from './ops/operations';
import { postgresPlace } from './store/sql/postgres-url';
import { connectNatsBus, type NatsBusOptions } from './cluster/nats-bus';

export interface RunOptions {
  dataDir: string;
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  approvalTimeoutMs?: number;
  /** Agent and /rpc handshakes alike. */
  handshakeTimeoutMs?: number;
  connections?: Partial<ConnectionLimits>;
  refusalAudit?: Partial<RefusalAuditLimits>;
  pendingLimits?: Partial<PendingLimits>;
  /** Run even though the root key lies in the data directory. */
  allowRootKey?: boolean;
  lostAgentGraceMs?: number;
  stalenessMs?: number;
  answerMarginMs?: number;
  /** PostgreSQL instead of the data directory's broker.db (`--database`); never logged. */
  databaseUrl?: string;
  /** One node of a cluster (`--nats`), sharing `databaseUrl` with the others. */
  cluster?: Omit<NatsBusOptions, 'log'>;
  /** Metrics and health, audit streams, the checkpoint witness, notifications (broker/ops/). */
  ops?: OpsOptions;
}

export interface RunningBroker {
  broker: Broker;
  url: string;
  log: pino.Logger;
  stop(): Promise<void>;
}

/** Opens the broker's state and starts its agent hub and its local operator socket. */
export async function startBroker(options: RunOptions): Promise<RunningBroker> {
  const { identity, created, log, broker } = await openDataDir(options);
  const tls = options.tlsCert && options.tlsKey ? { cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) } : undefined;
  const handshakeTimeoutMs = options.handshakeTimeoutMs;
  const url = await broker.startHub({ host: options.host, port: options.port, tls, handshakeTimeoutMs, rpcHandshakeTimeoutMs: handshakeTimeoutMs, connections: options.connections, refusalAudit: options.refusalAudit });
  const socket = await listenLocalSocket(options.dataDir, broker, log);
  const operations = await startOperations({ broker, log, dataDir: options.dataDir, hubUrl: url }, options.ops ?? { auditStreams: [] });
  const info = broker.info();
  audit(log).info('broker.started', { did: identity.did, root: info.root, certificate: info.certificate, url, createdIdentity: created }, 'broker started');
  return {
    broker,
    url,
    log,
    async stop() {
      audit(log).info('broker.stopping', {}, 'broker stopping');
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      await operations.stop();
      await broker.close();
      log.flush();
    },
  };
}

/** Identity, audit log and database: a data directory the broker cannot write is one clear error, not an errno. */
async function openDataDir(options: RunOptions) {
  try {
    // Other users must not read the database (every intent's parameters and output) or swap the broker's files.
    ensurePrivateDirectory(options.dataDir, 'data directory');
    const { identity, created, authority } = loadBrokerIdentity(options.dataDir);
    const allowRootKey = options.allowRootKey ?? false;
    // Before anything is logged or served: a broker whose chain is broken, revoked or next to its root key does not start.
    const chain = authority ? checkOwnChain(options.dataDir, identity, authority, { now: Date.now(), allowRootKey }) : { expired: null };
    const node = options.cluster && { node: options.cluster.nodeName, cluster: options.cluster.clusterName };
    const log = createBrokerLogger(options.dataDir, identity, undefined, undefined, node);
    reportExpiry(log, chain.expired);
    const cluster = options.cluster ? await connectNatsBus({ ...options.cluster, log }) : undefined;
    const broker = await Broker.open({
      dataDir: options.dataDir,
      identity,
      authority,
      allowRootKey,
      localOperatorDid: loadLocalOperator(options.dataDir).did,
      approvalTimeoutMs: options.approvalTimeoutMs,
      lostAgentGraceMs: options.lostAgentGraceMs,
      stalenessMs: options.stalenessMs,
      answerMarginMs: options.answerMarginMs,
      pendingLimits: options.pendingLimits,
      databaseUrl: options.databaseUrl,
      cluster,
      log,
    }).catch(async (err: unknown) => {
      await cluster?.close();
      throw err;
    });
    return { identity, created, log, broker };
  } catch (err) {
    const storage = storageFailure(err);
    if (storage) throw new Error(`cannot use the data directory ${options.dataDir}: ${storage}; it must be writable by this user, on a disk with free space`);
    throw err;
  }
}

/** Standalone mode for a team: runs until SIGINT or SIGTERM. */
export async function runStandalone(options: RunOptions): Promise<void> {
  const running = await startBroker(options);
  const { identity } = running.broker;
  process.stderr.write(
    `VaultysClaw broker listening on ${running.url}\n` +
      `  DID:         ${identity.did}\n` +
      `  fingerprint: ${identity.id.fingerprint}\n` +
      (running.broker.keys.authority ? `  root:        ${running.broker.info().root} (what agents and users pin)\n` : '') +
      `  data:        ${options.dataDir}\n` +
      (options.databaseUrl ? `  database:    ${postgresPlace(options.databaseUrl)}\n` : '') +
      (options.cluster ? `  cluster:     ${options.cluster.clusterName}, node ${options.cluster.nodeName}, NATS at ${options.cluster.servers.join(', ')}\n` : ''),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.stop();
}
