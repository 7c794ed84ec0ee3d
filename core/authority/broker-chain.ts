import { open, seal, VaultysId, type SealedEnvelope, type SecretIdentity } from '../identity';
import { BUDGETS } from '../budgets';
import { BrokerCertificateBody, BrokerRevocationBody, type BrokerAuthority } from '../wire/authority';

/**
 * The root's statement that `broker` speaks for it until `expiresAt`: the
 * chain a peer pinning the root checks before it co-signs anything.
 */
export function certifyBroker(
  root: SecretIdentity,
  o: { serial: number; broker: VaultysId; issuedAt: number; expiresAt: number; supersedes: { id: VaultysId; delegationsValidUntil: number } | null },
): SealedEnvelope {
  const body: BrokerCertificateBody = {
    serial: o.serial,
    root: root.did,
    broker: o.broker.bytes,
    issuedAt: o.issuedAt,
    expiresAt: o.expiresAt,
    supersedes: o.supersedes && { did: o.supersedes.id.did, id: o.supersedes.id.bytes, delegationsValidUntil: o.supersedes.delegationsValidUntil },
  };
  return seal(root, 'vaultysclaw/broker-certificate/v1', body);
}

/** The root's word that an online id is no longer its broker, whatever certificate it still holds. */
export function revokeBroker(root: SecretIdentity, o: { broker: string; reason: string; revokedAt: number }): SealedEnvelope {
  const body: BrokerRevocationBody = { root: root.did, broker: o.broker, reason: o.reason, revokedAt: o.revokedAt };
  return seal(root, 'vaultysclaw/broker-revocation/v1', body);
}

/** Each refusal names what failed, so an agent's log says why it turned a broker away. */
export type ChainRefusal =
  | 'bad-root'
  | 'wrong-root'
  | 'bad-certificate'
  | 'other-broker'
  | 'not-yet-valid'
  | 'expired'
  | 'bad-revocation'
  | 'revoked'
  | 'superseded'
  | 'downgrade';

/** The newest certificate a peer has seen from one root: its serial, and the online id it certified. */
export interface NewestCertificate {
  serial: number;
  broker: string;
}

/**
 * What a peer remembers between connections: online ids the root revoked, ids
 * a rotation replaced, and per root the newest certificate seen. The serial is
 * what makes a downgrade impossible across generations: a certificate names
 * only the id it replaced, so after A→B→C a peer that never saw B learns only
 * "B is superseded", while A's serial-1 certificate is still lower than 3.
 */
export interface LearntRevocations {
  revoked: ReadonlyMap<string, string>;
  superseded: ReadonlySet<string>;
  newest: ReadonlyMap<string, NewestCertificate>;
}

export const NOTHING_LEARNT: LearntRevocations = { revoked: new Map(), superseded: new Set(), newest: new Map() };

export interface VerifiedChain {
  root: VaultysId;
  certificate: BrokerCertificateBody;
  /** Every revocation presented (verified), by revoked DID: the caller persists them. */
  revoked: Map<string, string>;
  /** The id this one replaced, whose delegation certificates stay valid until `until`. */
  former: { id: VaultysId; until: number } | null;
}

export type ChainResult = { ok: true; value: VerifiedChain } | { ok: false; reason: ChainRefusal; message: string };

const refuse = (reason: ChainRefusal, message: string): ChainResult => ({ ok: false, reason, message });

/**
 * Checks that `broker` (the id that just proved its key in a handshake) is an
 * online id the pinned root currently certifies: the root is the pinned one,
 * it signed this certificate for this very id, the certificate is in its
 * validity period, and neither the root's revocations (presented now or
 * learnt before) nor an earlier rotation has retired the id. Never throws.
 */
export function verifyBrokerChain(
  authority: BrokerAuthority,
  o: { pinnedRoot: string; broker: VaultysId; now: number; clockSkewMs: number; learnt: LearntRevocations },
): ChainResult {
  let root: VaultysId;
  try {
    root = VaultysId.fromBytes(authority.root);
  } catch (err) {
    return refuse('bad-root', `the root id does not parse: ${(err as Error).message}`);
  }
  if (root.did !== o.pinnedRoot) return refuse('wrong-root', `the broker is certified by root ${root.did}, but this peer trusts root ${o.pinnedRoot}`);
  const opened = open(root, 'vaultysclaw/broker-certificate/v1', authority.certificate);
  if (!opened.ok) return refuse('bad-certificate', `broker certificate: ${opened.message}`);
  const parsed = BrokerCertificateBody.safeParse(opened.body);
  if (!parsed.success) return refuse('bad-certificate', 'broker certificate does not match its schema');
  const cert = parsed.data;
  if (cert.root !== root.did) return refuse('wrong-root', `the certificate names root ${cert.root}, not ${root.did}`);
  if (Buffer.compare(cert.broker, o.broker.bytes) !== 0) {
    return refuse('other-broker', `the root's certificate (serial ${cert.serial}) is for another broker id than ${o.broker.did}`);
  }
  if (!(cert.issuedAt <= o.now + o.clockSkewMs)) return refuse('not-yet-valid', `broker certificate serial ${cert.serial} is not valid yet`);
  if (!(cert.expiresAt > o.now)) {
    return refuse('expired', `broker certificate serial ${cert.serial} expired at ${new Date(cert.expiresAt).toISOString()}`);
  }
  const revoked = new Map<string, string>();
  for (const envelope of authority.revocations) {
    const r = open(root, 'vaultysclaw/broker-revocation/v1', envelope);
    const body = r.ok ? BrokerRevocationBody.safeParse(r.body) : undefined;
    if (!body?.success || body.data.root !== root.did) return refuse('bad-revocation', `a presented revocation does not verify with root ${root.did}`);
    revoked.set(body.data.broker, body.data.reason);
  }
  const reason = revoked.get(o.broker.did) ?? o.learnt.revoked.get(o.broker.did);
  if (reason !== undefined) return refuse('revoked', `broker id ${o.broker.did} is revoked by root ${root.did}: ${reason}`);
  if (o.learnt.superseded.has(o.broker.did)) {
    return refuse('superseded', `broker id ${o.broker.did} was replaced by a rotation; going back to it is refused`);
  }
  const newest = o.learnt.newest.get(root.did);
  if (newest && cert.serial < newest.serial) {
    return refuse(
      'downgrade',
      `broker certificate serial ${cert.serial} for ${o.broker.did} is older than serial ${newest.serial} (for ${newest.broker}) already seen from root ${root.did}; going back is refused`,
    );
  }
  const former = formerOf(cert);
  if (former === 'malformed') return refuse('bad-certificate', 'the superseded id does not parse or does not match its DID');
  return { ok: true, value: { root, certificate: cert, revoked, former } };
}

/**
 * What a verified chain adds to what a peer knows, or null when it adds
 * nothing: the root's revocations, the id this certificate replaced, and this
 * certificate's serial if it is the newest seen from its root. The superseded
 * list keeps the most recent BUDGETS.supersededBrokerIds ids: older ones are
 * refused by their lower serial anyway.
 */
export function learnFromChain(learnt: LearntRevocations, chain: VerifiedChain): LearntRevocations | null {
  const broker = VaultysId.fromBytes(chain.certificate.broker).did;
  const rootDid = chain.root.did;
  const revoked = new Map([...learnt.revoked, ...chain.revoked]);
  const superseded = [...learnt.superseded];
  const former = chain.former?.id.did;
  if (former && former !== broker && !superseded.includes(former)) superseded.push(former);
  const previous = learnt.newest.get(rootDid);
  const isNewer = !previous || chain.certificate.serial > previous.serial;
  const newest = new Map(learnt.newest);
  if (isNewer) newest.set(rootDid, { serial: chain.certificate.serial, broker });
  if (revoked.size === learnt.revoked.size && superseded.length === learnt.superseded.size && !isNewer) return null;
  return { revoked, superseded: new Set(superseded.slice(-BUDGETS.supersededBrokerIds.limit)), newest };
}

function formerOf(cert: BrokerCertificateBody): VerifiedChain['former'] | 'malformed' {
  if (!cert.supersedes) return null;
  try {
    const id = VaultysId.fromBytes(cert.supersedes.id);
    return id.did === cert.supersedes.did ? { id, until: cert.supersedes.delegationsValidUntil } : 'malformed';
  } catch {
    return 'malformed';
  }
}
