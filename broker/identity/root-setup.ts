import { relative, resolve } from 'node:path';
import { certifyBroker } from '../../core/authority/broker-chain';
import { IdType, SecretIdentity, writeKeyFile } from '../../core/identity';
import { loadBrokerIdentity } from '../broker-identity';
import { writeAuthority } from './authority-file';

function isInside(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(path));
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
}

/**
 * Creates the offline root (an organization id, so a pin tells roots from
 * broker ids by their DID), writes its key to `out` (0600, never over an
 * existing file) and certifies the broker's current id as serial 1.
 */
export function createRoot(dataDir: string, out: string, o: { now: number; validForMs: number; allowInDataDir: boolean }): { root: SecretIdentity; broker: string } {
  const { identity, authority } = loadBrokerIdentity(dataDir);
  if (authority) throw new Error(`the broker in ${dataDir} already has a root; rotate with "broker identity rotate"`);
  if (isInside(dataDir, out) && !o.allowInDataDir) {
    throw new Error(`${out} is inside the broker's data directory: the root key belongs off this host; write it elsewhere (or pass --allow-in-data-dir)`);
  }
  const root = SecretIdentity.generate(IdType.Organization);
  writeKeyFile(out, root);
  const certificate = certifyBroker(root, { serial: 1, broker: identity.id, issuedAt: o.now, expiresAt: o.now + o.validForMs, supersedes: null });
  writeAuthority(dataDir, { root: root.id.bytes, certificate, revocations: [] });
  return { root, broker: identity.did };
}
