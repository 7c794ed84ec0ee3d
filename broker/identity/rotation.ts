import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { certifyBroker, revokeBroker } from '../../core/authority/broker-chain';
import { bytesEqual, IdType, loadOrCreateKeyFile, open, readKeyFile, VaultysId, writeKeyFile, type SealedEnvelope, type SecretIdentity } from '../../core/identity';
import { BrokerCertificateBody, BrokerRevocationBody, MAX_BROKER_REVOCATIONS, type BrokerAuthority } from '../../core/wire/authority';
import { Did } from '../../core/wire/common';
import { BROKER_KEY_FILE } from '../broker-identity';
import { envelopeText, readAuthority, writeAuthority } from './authority-file';
import { certificateOf } from './identity-service';

/** The next online key, made on the broker host and certified by the root before it replaces broker.key. */
export const NEXT_KEY_FILE = 'broker.next.key';

const B64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const EnvelopeText = z.strictObject({ payload: B64, signature: B64 });

/** What the broker host hands to whoever holds the root (a file, so the root can sign on another machine). */
export const RotationRequest = z.strictObject({
  kind: z.literal('vaultysclaw/rotation-request/v1'),
  root: Did,
  serial: z.number().int().positive(),
  broker: B64,
  previous: z.strictObject({ did: Did, id: B64 }),
});
export type RotationRequest = z.infer<typeof RotationRequest>;

/** What comes back: the root's certificate of the new id and, after a compromise, its revocation of the old one. */
export const CertifiedRotation = z.strictObject({
  kind: z.literal('vaultysclaw/root-signed/v1'),
  certificate: EnvelopeText.nullable(),
  revocations: z.array(EnvelopeText),
});
export type CertifiedRotation = z.infer<typeof CertifiedRotation>;

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));
const envelopeOf = (e: { payload: string; signature: string }): SealedEnvelope => ({ payload: bytes(e.payload), signature: bytes(e.signature) });

export function readJsonFile<T>(file: string, schema: z.ZodType<T>, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(`${file} is not a ${what}`);
  return parsed.data;
}

function requireAuthority(dataDir: string): BrokerAuthority {
  const authority = readAuthority(dataDir);
  if (!authority) throw new Error(`the broker in ${dataDir} has no root yet: run "broker identity create-root" first`);
  return authority;
}

/** Step 1, on the broker host: a new online key (kept if one is already waiting) and the request for the root. */
export function prepareRotation(dataDir: string): RotationRequest {
  const authority = requireAuthority(dataDir);
  const current = readKeyFile(join(dataDir, BROKER_KEY_FILE));
  const next = loadOrCreateKeyFile(join(dataDir, NEXT_KEY_FILE), IdType.Machine).identity;
  return {
    kind: 'vaultysclaw/rotation-request/v1',
    root: VaultysId.fromBytes(authority.root).did,
    serial: certificateOf(authority).serial + 1,
    broker: next.id.toBase64(),
    previous: { did: current.did, id: current.id.toBase64() },
  };
}

/**
 * Step 2, wherever the root key is: certify the requested id. A planned
 * rotation lets delegation certificates of the old id count for `graceMs`
 * more; a compromise gives them none and revokes the old id outright.
 */
export function certifyRotation(
  root: SecretIdentity,
  request: RotationRequest,
  o: { now: number; validForMs: number; graceMs: number; compromised: { reason: string } | null },
): CertifiedRotation {
  if (request.root !== root.did) throw new Error(`this request is for root ${request.root}, but the key given is root ${root.did}`);
  const previous = VaultysId.fromBase64(request.previous.id);
  if (previous.did !== request.previous.did) throw new Error('the request names a previous id that does not match its DID');
  const certificate = certifyBroker(root, {
    serial: request.serial,
    broker: VaultysId.fromBase64(request.broker),
    issuedAt: o.now,
    expiresAt: o.now + o.validForMs,
    supersedes: { id: previous, delegationsValidUntil: o.compromised ? o.now : o.now + o.graceMs },
  });
  const revocations = o.compromised ? [revokeBroker(root, { broker: previous.did, reason: o.compromised.reason, revokedAt: o.now })] : [];
  return { kind: 'vaultysclaw/root-signed/v1', certificate: envelopeText(certificate), revocations: revocations.map(envelopeText) };
}

export type ImportOutcome = { rotatedTo: string | null; revocations: number };

/**
 * Step 3, on the broker host: checks what the root signed against this broker
 * (same root, a certificate of the waiting next key that supersedes the
 * current one, revocations that verify), then writes the new chain and only
 * then moves the next key in place: an interrupted import can be run again.
 */
export function importRootSigned(dataDir: string, signed: CertifiedRotation): ImportOutcome {
  const authority = requireAuthority(dataDir);
  const root = VaultysId.fromBytes(authority.root);
  const revocations = [...authority.revocations];
  for (const text of signed.revocations) {
    const envelope = envelopeOf(text);
    const opened = open(root, 'vaultysclaw/broker-revocation/v1', envelope);
    if (!opened.ok || !BrokerRevocationBody.safeParse(opened.body).success) throw new Error(`a revocation does not verify with this broker's root ${root.did}`);
    // An import run again (after an interruption, or relayed twice) adds nothing twice.
    if (!revocations.some((r) => bytesEqual(r.payload, envelope.payload))) revocations.push(envelope);
  }
  if (revocations.length > MAX_BROKER_REVOCATIONS) {
    throw new Error(`a broker presents at most ${MAX_BROKER_REVOCATIONS} revocations in its handshake; this would make ${revocations.length}`);
  }
  if (!signed.certificate) {
    writeAuthority(dataDir, { ...authority, revocations });
    return { rotatedTo: null, revocations: signed.revocations.length };
  }
  const certificate = envelopeOf(signed.certificate);
  const opened = open(root, 'vaultysclaw/broker-certificate/v1', certificate);
  const body = opened.ok ? BrokerCertificateBody.safeParse(opened.body) : undefined;
  if (!body?.success) throw new Error(`the certificate is not signed by this broker's root ${root.did}`);
  const nextFile = join(dataDir, NEXT_KEY_FILE);
  if (!existsSync(nextFile)) throw new Error(`no ${NEXT_KEY_FILE} waits in ${dataDir}: run "broker identity rotate --request <file>" first`);
  const next = readKeyFile(nextFile);
  const current = readKeyFile(join(dataDir, BROKER_KEY_FILE));
  if (Buffer.compare(body.data.broker, next.id.bytes) !== 0) throw new Error(`the certificate is for another id than the waiting ${next.did}`);
  if (body.data.supersedes?.did !== current.did) throw new Error(`the certificate does not supersede the current broker id ${current.did}`);
  writeAuthority(dataDir, { root: authority.root, certificate, revocations });
  renameSync(nextFile, join(dataDir, BROKER_KEY_FILE));
  return { rotatedTo: next.did, revocations: signed.revocations.length };
}

/**
 * On every other node of a cluster (issue 20), after one node rotated or imported revocations: take up that node's
 * broker.key and broker-authority.json (copied from its data directory, `from`). Every node signs as the one online
 * id, so this is the same id and chain the first node took up, never a new one: the chain must come from this
 * node's own root, certify the key that comes with it, and be as new as the chain held here or newer (an older one
 * would roll the node back to a replaced, maybe revoked, id). Written chain first, key second, like an import.
 */
export function adoptNodeIdentity(dataDir: string, from: string): ImportOutcome {
  const authority = requireAuthority(dataDir);
  const incoming = readAuthority(from);
  if (!incoming) throw new Error(`${from} holds no ${BROKER_KEY_FILE} chain (broker-authority.json): nothing to adopt`);
  if (!bytesEqual(incoming.root, authority.root)) {
    throw new Error(`${from} is under root ${VaultysId.fromBytes(incoming.root).did}, not this node's root ${VaultysId.fromBytes(authority.root).did}`);
  }
  const key = readKeyFile(join(from, BROKER_KEY_FILE));
  const theirs = certificateOf(incoming);
  const ours = certificateOf(authority);
  if (!bytesEqual(theirs.broker, key.id.bytes)) throw new Error(`the chain in ${from} certifies another id than its ${BROKER_KEY_FILE} (${key.did})`);
  const current = readKeyFile(join(dataDir, BROKER_KEY_FILE));
  if (theirs.serial < ours.serial || (theirs.serial === ours.serial && !key.id.equals(current.id))) {
    throw new Error(`${from} holds certificate serial ${theirs.serial} for ${key.did}; this node already holds serial ${ours.serial} for ${current.did}`);
  }
  if (incoming.revocations.length < authority.revocations.length) {
    throw new Error(`${from} holds ${incoming.revocations.length} revocation(s), this node ${authority.revocations.length}: adopt from the node that took up the latest`);
  }
  writeAuthority(dataDir, incoming);
  const rotated = !key.id.equals(current.id);
  if (rotated) writeKeyFile(join(dataDir, BROKER_KEY_FILE), key, { overwrite: true });
  return { rotatedTo: rotated ? key.did : null, revocations: incoming.revocations.length - authority.revocations.length };
}
