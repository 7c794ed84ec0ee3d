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
export const TORN_LINE_EVENT = 'audit.torn-line' satisfies AuditEvent;
/** Written by the broker at start when entries follow the last checkpoint it can vouch for (resume-check.ts). */
export const UNVERIFIED_TAIL_EVENT = 'audit.unverified-tail' satisfies AuditEvent;
/** Written by the broker when it takes up a new online id (broker/identity/identity-service.ts). */
export const ROTATION_EVENT = 'identity.rotated' satisfies AuditEvent;

// The line format and the checkpoint's signed body live in core: an agent checks the checkpoints it keeps as a witness.
export { CHECKPOINT_EVENT, checkpointBody, parseLine, sha256Hex, type ChainEntry, type ParsedLine } from '../../core/audit/chain-entry';
