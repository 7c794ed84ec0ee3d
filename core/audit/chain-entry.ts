import { createHash } from 'node:crypto';
import { signTagged, verifyTagged, VaultysId, type SecretIdentity } from '../identity';
import type { AuditEvent } from './events';

/**
 * One line of the broker's audit.log as the chain and its signed checkpoints define it (broker/audit/chain.ts has
 * the rest of the format). In core because the broker is not the only reader: an agent checks each checkpoint the
 * broker hands it before keeping it as a witness, with the same parser and the same signature check as the verifier.
 */

/** Reserved: the verifier gives it meaning, so nothing else in the broker may log it. */
export const CHECKPOINT_EVENT = 'audit.checkpoint' satisfies AuditEvent;
const CHECKPOINT_CONTEXT = 'vaultysclaw/audit-checkpoint/v1';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** An entry's chain fields; the hash is over its exact bytes as they are in the file. */
export interface ChainEntry {
  seq: number;
  prev: string;
  hash: string;
  fields: Record<string, unknown>;
}

export type ParsedLine = { kind: 'entry'; entry: ChainEntry } | { kind: 'not-json' } | { kind: 'not-entry' };

const HEX64 = /^[0-9a-f]{64}$/;

/** Classifies one line's bytes (without "\n"). Never throws. */
export function parseLine(bytes: Uint8Array): ParsedLine {
  let value: unknown;
  try {
    // fatal: bytes that are not UTF-8 cannot have been written by the broker.
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return { kind: 'not-json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'not-entry' };
  const fields = value as Record<string, unknown>;
  const { seq, prev } = fields;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0 || typeof prev !== 'string' || !HEX64.test(prev)) {
    return { kind: 'not-entry' };
  }
  return { kind: 'entry', entry: { seq, prev, hash: sha256Hex(bytes), fields } };
}

/**
 * Which log of a cluster a checkpoint belongs to (issue 20): every node signs as the same broker id, so without its
 * node and cluster in the signed body one node's log could be passed off as another's, or another cluster's as this
 * one's, and still verify. Absent on a single broker's log (whose checkpoints keep their old body).
 */
export interface CheckpointNode {
  node: string;
  cluster: string;
}

/**
 * What a checkpoint signs: the checkpoint line's own seq, the head it covers
 * (its prev: the hash of entry seq-1, hence of every entry before it), the
 * signer's DID and, on a cluster node, the node and cluster it names, under
 * the 'vaultysclaw/audit-checkpoint/v1' context tag.
 */
export function checkpointBody(seq: number, head: string, brokerDid: string, node?: CheckpointNode): Record<string, unknown> {
  return { seq, head, broker: brokerDid, ...(node ? { node: node.node, cluster: node.cluster } : {}) };
}

/** A checkpoint's signature over its seq and head (and node), base64. */
export function signCheckpoint(signer: SecretIdentity, seq: number, head: string, node?: CheckpointNode): string {
  return Buffer.from(signTagged(signer, CHECKPOINT_CONTEXT, checkpointBody(seq, head, signer.did, node))).toString('base64');
}

/** The node a checkpoint entry names: null when it names none, 'malformed' when its node fields are not two strings. */
export function checkpointNodeOf(fields: Record<string, unknown>): CheckpointNode | null | 'malformed' {
  const { node, cluster } = fields;
  if (node === undefined && cluster === undefined) return null;
  return typeof node === 'string' && typeof cluster === 'string' ? { node, cluster } : 'malformed';
}

export type CheckpointCheck = { ok: true; did: string } | { ok: false; detail: string };

/**
 * Checks a checkpoint entry: it covers its own chain position, and its
 * signature verifies with the id it states, whose DID must be the pinned one.
 */
export function verifyCheckpoint(entry: Pick<ChainEntry, 'seq' | 'prev' | 'fields'>, pinnedDid: string | undefined): CheckpointCheck {
  const { head, brokerId, signature, broker } = entry.fields;
  if (head !== entry.prev) return { ok: false, detail: 'its head is not the hash of the entry before it' };
  if (typeof brokerId !== 'string' || typeof signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) {
    return { ok: false, detail: 'brokerId or signature missing or not base64' };
  }
  let id: VaultysId;
  try {
    id = VaultysId.fromBase64(brokerId);
  } catch (err) {
    return { ok: false, detail: `brokerId is not a VaultysId: ${(err as Error).message}` };
  }
  if (broker !== undefined && broker !== id.did) return { ok: false, detail: `it names ${String(broker)} but carries the id of ${id.did}` };
  if (pinnedDid !== undefined && id.did !== pinnedDid) return { ok: false, detail: `signed by ${id.did}, not by the broker ${pinnedDid}` };
  const node = checkpointNodeOf(entry.fields);
  if (node === 'malformed') return { ok: false, detail: 'its node and cluster are not two strings' };
  if (!verifyTagged(id, CHECKPOINT_CONTEXT, checkpointBody(entry.seq, head, id.did, node ?? undefined), new Uint8Array(Buffer.from(signature, 'base64')))) {
    return { ok: false, detail: `the signature does not verify with ${id.did}` };
  }
  return { ok: true, did: id.did };
}
