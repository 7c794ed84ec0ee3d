import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { IdType, loadOrCreateKeyFile, type SecretIdentity } from '../core/identity';

export const BROKER_KEY_FILE = 'broker.key';

/** The broker's own VaultysId (a machine id), created 0600 in its data directory on first start. */
export function loadBrokerIdentity(dataDir: string): { identity: SecretIdentity; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return loadOrCreateKeyFile(join(dataDir, BROKER_KEY_FILE), IdType.Machine);
}
