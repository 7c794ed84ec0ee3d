import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentSession } from './hub/agent-session';
import { HubServer } from './hub/hub-server';
import { PolicyBook } from './hub/policy-book';
import { loadBrokerIdentity } from './broker-identity';
import { createBrokerLogger } from './log';
import { AgentRegistry } from './store/agent-registry';
import { openDatabase } from './store/database';

export interface StandaloneOptions {
  dataDir: string;
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
}

/** Runs the broker for a team: its identity, its database and the agent hub, until a signal stops it. */
export async function runStandalone(options: StandaloneOptions): Promise<void> {
  const { identity, created } = loadBrokerIdentity(options.dataDir);
  const log = createBrokerLogger(options.dataDir);
  const db = openDatabase(join(options.dataDir, 'broker.db'));
  const registry = new AgentRegistry(db);
  const policies = new PolicyBook();
  const tls = options.tlsCert && options.tlsKey ? { cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) } : undefined;
  const hub = new HubServer({
    host: options.host,
    port: options.port,
    tls,
    log,
    createSession: () => new AgentSession(identity, registry, policies, log),
  });
  const address = await hub.listen();
  const url = `${tls ? 'wss' : 'ws'}://${address.address}:${address.port}`;
  log.info({ event: 'broker.started', did: identity.did, url, createdIdentity: created }, 'broker started');
  process.stderr.write(
    `VaultysClaw broker ${created ? '(new identity) ' : ''}listening on ${url}\n` +
      `  DID:         ${identity.did}\n` +
      `  fingerprint: ${identity.id.fingerprint}\n` +
      `  data:        ${options.dataDir}\n`,
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ event: 'broker.stopping', signal }, 'broker stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await hub.close();
  db.close();
  log.flush();
}
