import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type pino from 'pino';
import { NOTHING_LEARNT, verifyBrokerChain } from '../../core/authority/broker-chain';
import { SecretIdentity, VaultysId } from '../../core/identity';
import type { BrokerAuthority } from '../../core/wire/authority';
import { audit } from '../audit/audit-log';

/**
 * Key files of the given root lying in a directory: the root key belongs off
 * the broker host (it is brought back for a rotation only), so whoever takes
 * the host must not get the root with it. Matched by the id a file holds, not
 * by its name, so a renamed copy is found too.
 */
export function rootKeyFilesIn(dir: string, rootDid: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(dir, entry.name);
    try {
      if (statSync(path).size > 256) continue;
      const text = readFileSync(path, 'utf8').trim();
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) continue;
      if (SecretIdentity.fromSecret(new Uint8Array(Buffer.from(text, 'base64'))).did === rootDid) found.push(path);
    } catch {
      // Not a key file: nothing to refuse.
    }
  }
  return found;
}

/**
 * Before the broker uses an identity: its chain must certify exactly this key,
 * must not be revoked, and the root key must not sit in the data directory
 * unless the operator said so. An expired certificate is reported, not fatal:
 * the broker still serves peers pinned to its own DID, and refusing to start
 * would only delay the renewal.
 */
const AUTHORITY_HINT = "the broker's root certificate cannot be used";

/** Said at start and at every reload, where the operator looks; peers refuse the broker meanwhile. */
export function reportExpiry(log: pino.Logger, expired: string | null): void {
  if (expired) audit(log).error('identity.certificate-expired', { detail: expired }, 'the root certificate of this broker has expired: peers pinning the root refuse it; rotate it');
}

export function checkOwnChain(
  dataDir: string,
  identity: SecretIdentity,
  authority: BrokerAuthority,
  o: { now: number; allowRootKey: boolean },
): { expired: string | null } {
  const rootDid = VaultysId.fromBytes(authority.root).did;
  const keys = rootKeyFilesIn(dataDir, rootDid);
  if (keys.length > 0 && !o.allowRootKey) {
    throw new Error(
      `the root key of ${rootDid} is in the broker's data directory (${keys.join(', ')}): move it off this host ` +
        '(it is only needed to rotate the broker identity), or pass --allow-root-key to accept the risk',
    );
  }
  const chain = verifyBrokerChain(authority, { pinnedRoot: rootDid, broker: identity.id, now: o.now, clockSkewMs: 0, learnt: NOTHING_LEARNT });
  if (chain.ok) return { expired: null };
  if (chain.reason === 'expired') return { expired: chain.message };
  if (chain.reason === 'other-broker') {
    throw new Error(`${AUTHORITY_HINT}: the root's certificate is for another id than broker.key (an interrupted rotation? run "broker identity import" again)`);
  }
  throw new Error(`${AUTHORITY_HINT} (${chain.reason}): ${chain.message}`);
}
