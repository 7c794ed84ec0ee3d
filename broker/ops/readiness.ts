import { accessSync, constants, statSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type pino from 'pino';
import type { Broker } from '../broker';
import { SingleNodeBus } from '../cluster/single-node-bus';
import { auditDestinationOf } from '../log';

export type ReadinessCheck = 'database' | 'audit-log' | 'hub' | 'cluster-bus';
export interface Readiness {
  ready: boolean;
  /** Each check: 'ok', or why it fails (no path, no secret: the listener may face a load balancer). cluster-bus on a node of a cluster only. */
  checks: Partial<Record<ReadinessCheck, string>>;
}

interface FileId {
  dev: number;
  ino: number;
}

/**
 * Whether a write to the file at `path` would succeed, without writing (a probe write to audit.log would be a
 * line; to broker.db, a transaction that could wait on SQLite's lock) and without opening it (closing any
 * descriptor of broker.db would drop SQLite's POSIX locks on it): the file there is still the one the broker
 * holds, the kernel would let it be written (an immutable file or a read-only mount refuse even root), and its
 * file system has room.
 */
function writeProblem(path: string, held: FileId | null): string | null {
  if (!held) return 'closed';
  let now;
  try {
    now = statSync(path);
  } catch (err) {
    return `no file at its path (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`;
  }
  if (now.dev !== held.dev || now.ino !== held.ino) return 'the file at its path is not the one the broker writes (replaced or moved)';
  try {
    accessSync(path, constants.W_OK);
  } catch (err) {
    return `not writable (${(err as NodeJS.ErrnoException).code ?? 'refused'})`;
  }
  try {
    if (statfsSync(dirname(path)).bavail === 0) return 'its file system is full';
  } catch (err) {
    return `its file system cannot be read (${(err as NodeJS.ErrnoException).code ?? 'refused'})`;
  }
  return null;
}

/**
 * /readyz's checks, over the broker's database, its audit log and its hub: each read when asked, none cached. On
 * SQLite the database is the file broker.db (checked without writing, see writeProblem); on PostgreSQL, whether
 * the server answers a query now.
 */
export function readinessOf(broker: Broker, log: pino.Logger, dataDir: string): () => Promise<Readiness> {
  const database = databaseCheck(broker, dataDir);
  const auditLog = auditDestinationOf(log);
  return async () => {
    const audit = auditLog?.health();
    const checks: Partial<Record<ReadinessCheck, string>> = {
      database: await database(),
      'audit-log': !auditLog || !audit ? 'no audit log' : audit.failure ? 'a write failed: the log takes no more lines' : (writeProblem(auditLog.path, audit.file) ?? 'ok'),
      hub: broker.hubStatus().listening ? 'ok' : 'not listening',
      // A node that cannot reach the others refuses what needs them: a load balancer should send users elsewhere.
      ...(!(broker.cluster instanceof SingleNodeBus) ? { 'cluster-bus': broker.cluster.connected ? 'ok' : 'down: this node cannot reach the other nodes (NATS)' } : {}),
    };
    return { ready: Object.values(checks).every((c) => c === 'ok'), checks };
  };
}

function databaseCheck(broker: Broker, dataDir: string): () => Promise<string> {
  const { storage } = broker;
  if (storage.dialect !== 'sqlite') return async () => (await storage.ping()) ?? 'ok';
  const dbPath = join(dataDir, 'broker.db');
  // The database the broker opened: its identity now, while it is certainly the broker's.
  const { dev, ino } = statSync(dbPath);
  const held: FileId = { dev, ino };
  return async () => (await storage.ping()) ?? writeProblem(dbPath, held) ?? 'ok';
}
