import { join } from 'node:path';
import { IdType, loadOrCreateKeyFile, type SecretIdentity } from '../core/identity';

/**
 * The person id that requests made on the broker host itself (local socket,
 * stdio) are attributed to, until users prove their own ids to the broker.
 * Created 0600 beside the broker's key.
 */
export function loadLocalOperator(dataDir: string): SecretIdentity {
  return loadOrCreateKeyFile(join(dataDir, 'operator.key'), IdType.Person).identity;
}
