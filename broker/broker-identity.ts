import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { IdType, loadOrCreateKeyFile, type SecretIdentity } from '../core/identity';
import type { BrokerAuthority } from '../core/wire/authority';
import { readAuthority } from './identity/authority-file';

export const BROKER_KEY_FILE = 'broker.key';

/**
 * The broker's own VaultysId (a machine id), created 0600 in its data
 * directory on first start, and its chain to an offline root if it has one
 * (unchecked here: see identity/own-chain.ts).
 */
export function loadBrokerIdentity(dataDir: string): { identity: SecretIdentity; created: boolean; authority: BrokerAuthority | null } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return { ...loadOrCreateKeyFile(join(dataDir, BROKER_KEY_FILE), IdType.Machine), authority: readAuthority(dataDir) };
}
