import { closeSync, openSync } from 'node:fs';
import { BUDGETS } from '../../core/budgets';
import { CHECKPOINT_EVENT, ROTATION_EVENT, parseLine, type ChainEntry } from './chain';
import { verifyCheckpoint } from './checkpoints';
import { linesBackward } from './log-lines';

/** Entries at the end of audit.log that no checkpoint of this broker vouches for. */
export interface UnverifiedTail {
  /** First such entry's seq; null when more than BUDGETS.auditResumeScanEntries follow the last checkpoint (not looked further). */
  fromSeq: number | null;
  toSeq: number;
  entries: number;
}

/**
 * On start, before the broker signs anything: the entries after its last
 * checkpoint were written while it was not running, or by it just before a
 * crash; nothing tells those apart from lines appended by whoever can write
 * the file (a fake approval, a fake hand-over to an arbitrary key). The next
 * checkpoint would cover them as if the broker had written them, so the
 * broker first records, signed, that it does not vouch for them
 * (UNVERIFIED_TAIL_EVENT, written by broker/log.ts); `audit verify` then reports
 * them and never follows a hand-over among them. The last checkpoint itself
 * must verify and be this broker's, or its predecessor's hand-over to it.
 * Reads the tail only, at most BUDGETS.auditResumeScanEntries entries of it.
 */
export function unverifiedTailAt(path: string, signerDid: string): UnverifiedTail | null {
  const fd = openSync(path, 'r');
  try {
    let last: ChainEntry | null = null;
    let entries = 0;
    let checkpoint: ChainEntry | null = null;
    for (const line of linesBackward(fd)) {
      const parsed = parseLine(line.bytes);
      if (parsed.kind !== 'entry') continue;
      const entry = parsed.entry;
      if (checkpoint) {
        // The entry before a final checkpoint decides whether it is a hand-over to this broker.
        return vouches(checkpoint, entry, signerDid) ? null : { fromSeq: checkpoint.seq, toSeq: last!.seq, entries: 1 };
      }
      last ??= entry;
      if (entry.fields.event === CHECKPOINT_EVENT) {
        if (entries > 0) return { fromSeq: entry.seq + 1, toSeq: last.seq, entries };
        checkpoint = entry;
        continue;
      }
      entries += 1;
      if (entries > BUDGETS.auditResumeScanEntries.limit) return { fromSeq: null, toSeq: last.seq, entries };
    }
    if (checkpoint) return vouches(checkpoint, null, signerDid) ? null : { fromSeq: checkpoint.seq, toSeq: checkpoint.seq, entries: 1 };
    return last ? { fromSeq: 0, toSeq: last.seq, entries } : null;
  } finally {
    closeSync(fd);
  }
}

function vouches(checkpoint: ChainEntry, before: ChainEntry | null, signerDid: string): boolean {
  const check = verifyCheckpoint(checkpoint, undefined);
  if (!check.ok) return false;
  if (check.did === signerDid) return true;
  return before?.fields.event === ROTATION_EVENT && before.fields.from === check.did && before.fields.to === signerDid;
}
