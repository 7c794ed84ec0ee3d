import { hostname } from 'node:os';
import type { NatsBusOptions } from '../cluster/nats-bus';

/** The `broker start` flags that make this broker one node of a cluster, as commander hands them over. */
export interface ClusterFlags {
  nats?: string;
  clusterName: string;
  nodeName?: string;
  natsUser?: string;
  natsPasswordFile?: string;
  natsTokenFile?: string;
  natsCa?: string;
}

/** What NatsBus needs (its log aside), or undefined for a single broker. Every conflict refused before the broker starts. */
export function clusterOptionsFrom(flags: ClusterFlags, databaseUrl: string | undefined): Omit<NatsBusOptions, 'log'> | undefined {
  const natsOnly = [flags.natsUser && '--nats-user', flags.natsPasswordFile && '--nats-password-file', flags.natsTokenFile && '--nats-token-file', flags.natsCa && '--nats-ca', flags.nodeName && '--node-name'].filter(Boolean);
  if (!flags.nats) {
    if (natsOnly.length > 0) throw new Error(`${natsOnly.join(', ')} go with --nats`);
    return undefined;
  }
  // Nodes share their state through the database: on a data directory's SQLite each would be a broker of its own.
  if (!databaseUrl) throw new Error('--nats needs --database: the nodes of a cluster share one PostgreSQL database');
  if (flags.natsTokenFile && (flags.natsUser || flags.natsPasswordFile)) throw new Error('give NATS a token (--nats-token-file) or a user and password (--nats-user, --nats-password-file), not both');
  if (Boolean(flags.natsUser) !== Boolean(flags.natsPasswordFile)) throw new Error('--nats-user and --nats-password-file go together');
  const credentials = flags.natsTokenFile ? { tokenFile: flags.natsTokenFile } : flags.natsUser && flags.natsPasswordFile ? { user: flags.natsUser, passwordFile: flags.natsPasswordFile } : undefined;
  return {
    servers: flags.nats.split(',').map((s) => s.trim()).filter(Boolean),
    clusterName: flags.clusterName,
    nodeName: flags.nodeName ?? hostname(),
    ...(credentials ? { credentials } : {}),
    ...(flags.natsCa ? { tls: { ca: flags.natsCa } } : {}),
  };
}
