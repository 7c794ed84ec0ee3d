// Several broker processes as one cluster (issue 20): one PostgreSQL database, one nats-server, every node with the
// same broker identity and local operator (the operator provisions them so; see the README's "Running several
// brokers"), each its own data directory, audit log and hub port. Real processes on 127.0.0.1.
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BROKER_KEY_FILE } from '../../broker/broker-identity';
import { AUTHORITY_FILE } from '../../broker/identity/authority-file';
import { startNats, type NatsServer } from './nats';
import { startPostgres, type PostgresServer } from './postgres';
import { tempDir, type BrokerProcess } from './processes';
import type { Started } from './started';

/** What every node shares with the first: its identity (and chain, if it has one) and the host operator's key. */
const SHARED_FILES = [BROKER_KEY_FILE, AUTHORITY_FILE, 'operator.key'];

export interface Cluster {
  postgres: PostgresServer;
  nats: NatsServer;
  databaseUrl: string;
  nodes: BrokerProcess[];
  /** `broker start`'s arguments for one more node of this cluster. */
  nodeArgs(name: string): string[];
  /** One more node, provisioned as the first ones (its own data directory with the shared files), added to `nodes`. */
  addNode(name: string): Promise<BrokerProcess>;
  /** The servers; the nodes are the Started's (its cleanup kills them first). */
  stop(): Promise<void>;
}

export async function startCluster(
  started: Started,
  /** `firstDataDir`: node 0's data directory, prepared beforehand (a broker id under a root, say); the others copy it. */
  options: { nodes: number; args?: string[]; firstDataDir?: string },
): Promise<Cluster> {
  const postgres = await startPostgres();
  let nats: NatsServer | undefined;
  try {
    nats = await startNats();
    const databaseUrl = await postgres.createDatabase();
    const natsUrl = nats.url;
    const nodeArgs = (name: string) => ['--database', databaseUrl, '--nats', natsUrl, '--node-name', name, ...(options.args ?? [])];
    const first = await started.broker({ args: nodeArgs('node-0'), ...(options.firstDataDir ? { dataDir: options.firstDataDir } : {}) });
    const nodes = [first];
    const addNode = async (name: string) => {
      const dataDir = tempDir('broker');
      for (const file of SHARED_FILES) if (existsSync(join(first.dataDir, file))) copyFileSync(join(first.dataDir, file), join(dataDir, file));
      const node = await started.broker({ dataDir, args: nodeArgs(name) });
      nodes.push(node);
      return node;
    };
    for (let i = 1; i < options.nodes; i++) await addNode(`node-${i}`);
    const servers = nats;
    return { postgres, nats, databaseUrl, nodes, nodeArgs, addNode, stop: async () => void (await Promise.allSettled([servers.close(), postgres.stop()])) };
  } catch (err) {
    await Promise.allSettled([nats?.close(), postgres.stop()]);
    throw err;
  }
}
