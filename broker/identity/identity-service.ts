import { join } from 'node:path';
import type pino from 'pino';
import { canonicalEncode, bytesEqual, open, readKeyFile, VaultysId, type SecretIdentity } from '../../core/identity';
import { BrokerCertificateBody, type BrokerAuthority } from '../../core/wire/authority';
import type { OnlineAgents } from '../agents/online-agents';
import { handOverAuditSigner } from '../log';
import type { DelegationService } from '../delegation/delegation-service';
import { conflict } from '../rpc/rpc-failure';
import { BROKER_KEY_FILE } from '../broker-identity';
import type { ActiveIdentity } from './active-identity';
import { envelopeText, readAuthority } from './authority-file';
import { checkOwnChain, reportExpiry } from './own-chain';
import { audit } from '../audit/audit-log';
import type { BrokerContext } from '../broker-context';

/** The root's certificate of the active id, read back from the chain the broker presents. */
export function certificateOf(authority: BrokerAuthority): BrokerCertificateBody {
  const opened = open(VaultysId.fromBytes(authority.root), 'vaultysclaw/broker-certificate/v1', authority.certificate);
  if (!opened.ok) throw new Error(`broker certificate: ${opened.message}`);
  return BrokerCertificateBody.parse(opened.body);
}

/** What IdentityService works with, handed over by Broker as one object. */
export interface IdentityServiceContext extends Pick<BrokerContext, 'keys' | 'online' | 'log' | 'now'> {
  dataDir: string;
  allowRootKey: boolean;
  delegations: DelegationService;
}

/**
 * Takes up, while the broker runs, the identity files that `broker identity`
 * wrote to the data directory: a new online id (a rotation) or a new chain
 * (a root certificate, a revocation to relay). Nothing is taken up unless the
 * root's chain certifies the key on disk; then delegations are re-signed, the
 * audit log is handed over to the new key, and connected agents are told to
 * renew their handshake.
 */
export class IdentityService {
  private readonly keys: ActiveIdentity;
  private readonly dataDir: string;
  private readonly allowRootKey: boolean;
  private readonly delegations: DelegationService;
  private readonly online: OnlineAgents;
  private readonly log: pino.Logger;
  private readonly now: () => number;

  constructor(c: IdentityServiceContext) {
    ({
      keys: this.keys,
      dataDir: this.dataDir,
      allowRootKey: this.allowRootKey,
      delegations: this.delegations,
      online: this.online,
      log: this.log,
      now: this.now,
    } = c);
  }

  async reload(actor: string): Promise<void> {
    let next;
    try {
      next = this.#readFiles();
    } catch (err) {
      audit(this.log).error('identity.reload-refused', { actor, detail: (err as Error).message }, 'identity files refused; the broker keeps its current identity');
      throw conflict((err as Error).message);
    }
    const previous = this.keys.identity;
    const rotated = !next.identity.id.equals(previous.id);
    if (!rotated && sameAuthority(next.authority, this.keys.authority)) return;
    if (rotated) recordRotation(this.log, actor, previous, next.identity, next.authority);
    else audit(this.log).info('identity.authority-updated', { actor, did: previous.did, ...chainFields(next.authority) }, "the broker's root chain changed");
    this.keys.replace(next.identity, next.authority);
    if (rotated) await this.delegations.reissueStale();
    const connections = this.online.all();
    for (const connection of connections) connection.send({ type: 'authority/changed' });
    audit(this.log).info('identity.announced', { agents: connections.length }, 'connected agents told to renew their handshake');
  }

  /** The agent reports, on its authenticated connection, that it now pins the root: audited, and checked against ours. */
  pinMigrated(agent: string, root: string): void {
    const ours = this.keys.authority && VaultysId.fromBytes(this.keys.authority.root).did;
    if (root !== ours) {
      audit(this.log).warn('agent.pin-migration-refused', { did: agent, root, expected: ours }, 'an agent reports a root this broker does not have');
      return;
    }
    audit(this.log).info('agent.pin-migrated', { did: agent, root, from: this.keys.identity.did }, 'agent moved its pin from the broker id to the root');
  }

  #readFiles() {
    const identity = readKeyFile(join(this.dataDir, BROKER_KEY_FILE));
    const authority = readAuthority(this.dataDir);
    if (!authority) {
      if (!identity.id.equals(this.keys.identity.id)) throw new Error('broker.key changed but there is no root certificate for it: a new broker id must be certified by the root');
      return { identity, authority };
    }
    reportExpiry(this.log, checkOwnChain(this.dataDir, identity, authority, { now: this.now(), allowRootKey: this.allowRootKey }).expired);
    return { identity, authority };
  }
}

function chainFields(authority: BrokerAuthority | null) {
  const certificate = authority && certificateOf(authority);
  return { root: certificate?.root ?? null, serial: certificate?.serial ?? null, expiresAt: certificate?.expiresAt ?? null, revocations: authority?.revocations.length ?? 0 };
}

/**
 * The audit record of a rotation, by the running broker or, when none runs,
 * by the CLI that imported it: logged, then signed by the old key in the
 * hand-over checkpoint, so the old key vouches for its successor in the chain.
 */
export function recordRotation(log: pino.Logger, actor: string, from: SecretIdentity, to: SecretIdentity, authority: BrokerAuthority | null): void {
  // The root's certificate of the new id travels with the record: `audit verify` follows a hand-over only with it.
  const anchor = authority && { rootId: Buffer.from(authority.root).toString('base64'), certificate: envelopeText(authority.certificate) };
  audit(log).warn('identity.rotated', { actor, from: from.did, to: to.did, toId: to.id.toBase64(), ...chainFields(authority), ...anchor }, 'broker identity rotated');
  handOverAuditSigner(log, to);
}

function sameAuthority(a: BrokerAuthority | null, b: BrokerAuthority | null): boolean {
  if (a === null || b === null) return a === b;
  return bytesEqual(canonicalEncode(a), canonicalEncode(b));
}
