import { closeSync, openSync } from 'node:fs';
import { checkpointNodeOf, type CheckpointNode } from '../../core/audit/chain-entry';
import { CHECKPOINT_EVENT, parseLine } from './chain';
import { linesBackward } from './log-lines';

/** A signed checkpoint as audit.log holds it. */
export interface Head {
  /** Its exact bytes, without the newline. */
  line: Buffer;
  /** The DID that signed it: only a connection certified by that id can check it. */
  signer: string;
}

/**
 * The last checkpoint already in audit.log when the broker starts (a restarted broker's shutdown checkpoint, or the
 * start checkpoint it just wrote), or null: what the witnesses get before the broker's next checkpoint.
 */
export function lastCheckpointIn(path: string): Head | null {
  const fd = openSync(path, 'r');
  try {
    for (const span of linesBackward(fd)) {
      const parsed = parseLine(span.bytes);
      if (parsed.kind === 'entry' && parsed.entry.fields.event === CHECKPOINT_EVENT && typeof parsed.entry.fields.broker === 'string') {
        return { line: span.bytes, signer: parsed.entry.fields.broker };
      }
    }
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * The cluster node the log's last checkpoint names, or null (a single broker's log, or a new one). A log is one
 * node's for good: a broker started on it under another node's name would make one log that names two nodes.
 */
export function nodeOfLog(path: string): CheckpointNode | null {
  const last = lastCheckpointIn(path);
  if (!last) return null;
  const parsed = parseLine(last.line);
  if (parsed.kind !== 'entry') return null;
  const node = checkpointNodeOf(parsed.entry.fields);
  return node === 'malformed' ? null : node;
}
