import { createHash } from 'node:crypto';
import type { AuditEvent } from '../../core/audit/events';

/**
 * The audit log's chain format, shared by the writer (chained-destination),
 * the checkpoint signer and the verifier, so that the three cannot drift.
 *
 * Every line of audit.log is one JSON object ending in "\n", with
 *   seq:  0, 1, 2, … in file order;
 *   prev: hex SHA-256 of the previous entry's exact bytes (the JSON text, without
 *         its "\n"), or GENESIS_PREV for seq 0.
 * Editing, deleting, inserting or reordering an entry breaks a link. A chain on
 * its own proves nothing against someone who can rewrite the whole file, so the
 * broker also signs checkpoints (checkpoints.ts) that pin the chain's head.
 */
export const AUDIT_LOG_FILE = 'audit.log';
export const GENESIS_PREV = '0'.repeat(64);

/** Reserved events: the verifier gives them meaning, so nothing else in the broker may log them. */
export const CHECKPOINT_EVENT = 'audit.checkpoint' satisfies AuditEvent;
export const TORN_LINE_EVENT = 'audit.torn-line' satisfies AuditEvent;
/** Written by the broker at start when entries follow the last checkpoint it can vouch for (resume-check.ts). */
export const UNVERIFIED_TAIL_EVENT = 'audit.unverified-tail' satisfies AuditEvent;
/** Written by the broker when it takes up a new online id (broker/identity/identity-service.ts). */
export const ROTATION_EVENT = 'identity.rotated' satisfies AuditEvent;

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
 * What a checkpoint signs: the checkpoint line's own seq, the head it covers
 * (its prev: the hash of entry seq-1, hence of every entry before it) and the
 * signer's DID, under the 'vaultysclaw/audit-checkpoint/v1' context tag.
 */
export function checkpointBody(seq: number, head: string, brokerDid: string): Record<string, unknown> {
  return { seq, head, broker: brokerDid };
}
