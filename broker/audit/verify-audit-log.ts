import { CHECKPOINT_EVENT, GENESIS_PREV, TORN_LINE_EVENT, parseLine, sha256Hex, type ChainEntry } from './chain';
import { verifyCheckpoint } from './checkpoints';

/** Written by the broker when it takes up a new online id (broker/identity/identity-service.ts). */
const ROTATION_EVENT = 'identity.rotated';
import { readLinesForward, type RawLine } from './log-lines';

export type TamperReason = 'edited' | 'deleted or reordered' | 'bad checkpoint signature' | 'not JSON' | 'not a chain entry';

export interface TamperFinding {
  /** 1-based line number of the first bad line. */
  line: number;
  /** Its seq as written, when it has one. */
  seq: number | null;
  reason: TamperReason;
  detail: string;
}

export interface AuditLogReport {
  ok: boolean;
  /** Lines in the file, fragments included. */
  lines: number;
  /** Chained entries verified (all of them when ok). */
  entries: number;
  checkpoints: number;
  /** The DID every checkpoint was checked against. */
  brokerDid: string | null;
  /** False when no --broker-did was given: checkpoints were checked against the id the first one states. */
  pinned: boolean;
  lastCheckpoint: { line: number; seq: number } | null;
  /** Broker rotations: from here on the successor signs, the old key having signed the hand-over. */
  rotations: { line: number; from: string; to: string }[];
  /** Entries after the last checkpoint: chained but not signed, so they can be truncated or rewritten undetected. */
  unprotectedEntries: number;
  /** Crash fragments, each frozen by the 'audit.torn-line' record that follows it. */
  tornFragments: { line: number; lines: number; bytes: number; recordLine: number }[];
  /** Fragments at the very end that no record covers yet (a crash since the broker last started, or a write in progress). */
  unrecordedTail: { line: number; lines: number; bytes: number } | null;
  failure: TamperFinding | null;
}

type Classified = RawLine & ({ kind: 'entry'; entry: ChainEntry } | { kind: 'not-json' | 'not-entry' });

/** One line of lookahead: classifying an edit needs to see whether the next entry still chains. */
class Lookahead {
  #next: IteratorResult<Classified>;
  constructor(private readonly lines: Iterator<RawLine>) {
    this.#next = this.#pull();
  }
  #pull(): IteratorResult<Classified> {
    const raw = this.lines.next();
    if (raw.done) return raw;
    return { done: false, value: { ...raw.value, ...parseLine(raw.value.bytes) } };
  }
  peek(): Classified | undefined {
    return this.#next.done ? undefined : this.#next.value;
  }
  take(): Classified | undefined {
    const value = this.peek();
    if (value) this.#next = this.#pull();
    return value;
  }
}

/** A record written on recovery vouches for exactly these fragment bytes (the lines joined by "\n"). */
function vouches(record: ChainEntry, fragments: RawLine[]): boolean {
  const torn = record.fields.torn as { lines?: unknown; bytes?: unknown; sha256?: unknown } | undefined;
  if (record.fields.event !== TORN_LINE_EVENT || typeof torn !== 'object' || torn === null) return false;
  const bytes = Buffer.concat(fragments.flatMap((f, i) => (i === 0 ? [f.bytes] : [Buffer.from('\n'), f.bytes])));
  return torn.lines === fragments.length && torn.bytes === bytes.length && torn.sha256 === sha256Hex(bytes);
}

/**
 * Walks the chain and stops at the first bad line. How each break is named:
 * - a line's seq is not the next one: an entry was deleted before it, or
 *   entries were moved ('deleted or reordered'); except when only its seq
 *   digits changed (its prev still chains and the next entry continues the
 *   count), which is an edit of that line;
 * - seq is right but prev is not the previous entry's hash: the previous entry
 *   was edited if this one is intact (the next entry still chains to it),
 *   otherwise this entry itself was edited;
 * - a checkpoint that does not verify, or is signed by another broker.
 */
export function verifyAuditLines(lines: Iterable<RawLine>, options: { brokerDid?: string } = {}): AuditLogReport {
  const report: AuditLogReport = {
    ok: true,
    lines: 0,
    entries: 0,
    checkpoints: 0,
    brokerDid: options.brokerDid ?? null,
    pinned: options.brokerDid !== undefined,
    lastCheckpoint: null,
    rotations: [],
    unprotectedEntries: 0,
    tornFragments: [],
    unrecordedTail: null,
    failure: null,
  };
  const fail = (line: number, seq: number | null, reason: TamperReason, detail: string): AuditLogReport => {
    report.ok = false;
    report.failure = { line, seq, reason, detail };
    return report;
  };
  const input = new Lookahead(lines[Symbol.iterator]());
  let expectedSeq = 0;
  let expectedPrev = GENESIS_PREV;
  let previous: { line: number; seq: number } | null = null;
  let vouchedRecordLine = 0;
  // A rotation: the identity.rotated entry names the successor, and once a checkpoint of the current key covers it, the successor may sign.
  let announced: { from: string; to: string } | null = null;
  let successor: string | null = null;

  for (let line = input.take(); line; line = input.take()) {
    report.lines = line.number;
    if (line.kind !== 'entry') {
      const fragments: Classified[] = [line];
      while (input.peek() && input.peek()!.kind !== 'entry') fragments.push(input.take()!);
      // A crash fragment is never valid JSON (no prefix of a JSON object is one): a JSON line here was put here.
      const foreign = fragments.find((f) => f.kind === 'not-entry');
      if (foreign) return fail(foreign.number, null, 'not a chain entry', 'a JSON line without seq and prev: not written by the broker');
      const record = input.peek();
      const bytes = fragments.reduce((n, f) => n + f.bytes.length, 0) + fragments.length - 1;
      report.lines = fragments[fragments.length - 1]!.number;
      if (!record) {
        report.unrecordedTail = { line: line.number, lines: fragments.length, bytes };
        break;
      }
      if (record.kind !== 'entry' || !vouches(record.entry, fragments)) {
        return fail(line.number, null, 'not JSON', 'not a crash fragment either: no audit.torn-line record right after it accounts for these bytes');
      }
      report.tornFragments.push({ line: line.number, lines: fragments.length, bytes, recordLine: record.number });
      vouchedRecordLine = record.number;
      continue;
    }

    const { entry } = line;
    const next = input.peek();
    const nextEntry = next?.kind === 'entry' ? next.entry : undefined;
    if (entry.seq !== expectedSeq) {
      if (entry.prev === expectedPrev && nextEntry?.seq === expectedSeq + 1) {
        return fail(line.number, entry.seq, 'edited', `its seq was changed (expected ${expectedSeq})`);
      }
      return fail(line.number, entry.seq, 'deleted or reordered', `expected seq ${expectedSeq}, found ${entry.seq}`);
    }
    if (entry.prev !== expectedPrev) {
      const thisOneIntact = nextEntry === undefined || nextEntry.prev === entry.hash;
      if (previous && thisOneIntact) {
        return fail(previous.line, previous.seq, 'edited', `its bytes no longer match the prev of line ${line.number}`);
      }
      return fail(line.number, entry.seq, 'edited', 'its prev does not match the hash of the entry before it');
    }
    if (entry.fields.event === TORN_LINE_EVENT && line.number !== vouchedRecordLine) {
      // Without this, deleting a crash fragment would go unnoticed: the record chains past it, not through it.
      return fail(line.number, entry.seq, 'deleted or reordered', 'the partial line this record vouches for is not right before it');
    }
    const { event, from, to } = entry.fields;
    if (event === ROTATION_EVENT && typeof from === 'string' && typeof to === 'string') announced = { from, to };
    if (entry.fields.event === CHECKPOINT_EVENT) {
      // After a hand-over only the successor signs: the replaced key (perhaps stolen) can no longer vouch for anything.
      const check = verifyCheckpoint(entry, successor ?? report.brokerDid ?? undefined);
      if (!check.ok) return fail(line.number, entry.seq, 'bad checkpoint signature', check.detail);
      successor = announced?.from === check.did ? announced.to : null;
      if (successor) report.rotations.push({ line: line.number, from: check.did, to: successor });
      announced = null;
      report.brokerDid = check.did;
      report.checkpoints += 1;
      report.lastCheckpoint = { line: line.number, seq: entry.seq };
      report.unprotectedEntries = 0;
    } else {
      report.unprotectedEntries += 1;
    }
    report.entries += 1;
    previous = { line: line.number, seq: entry.seq };
    expectedSeq = entry.seq + 1;
    expectedPrev = entry.hash;
  }
  return report;
}

export function verifyAuditLog(path: string, options: { brokerDid?: string } = {}): AuditLogReport {
  return verifyAuditLines(readLinesForward(path), options);
}

/** The human verdict: one line for the outcome, then what it does and does not prove. */
export function describeReport(path: string, report: AuditLogReport): string {
  const out: string[] = [];
  if (report.failure) {
    const f = report.failure;
    out.push(`${path}: TAMPERED at line ${f.line}${f.seq === null ? '' : ` (seq ${f.seq})`}: ${f.reason}: ${f.detail}`);
    out.push(`  before it: ${report.entries} entries and ${report.checkpoints} checkpoints verified`);
    return `${out.join('\n')}\n`;
  }
  const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  out.push(`${path}: OK: ${count(report.lines, 'line')}, ${count(report.entries, 'chained entry', 'chained entries')}, ${count(report.checkpoints, 'signed checkpoint')}`);
  if (report.checkpoints === 0) {
    out.push('  no checkpoint: the chain is intact but nothing in it is signed, so the whole file could have been rewritten');
  } else if (report.pinned) {
    out.push(`  checkpoints signed by ${report.rotations[0]?.from ?? report.brokerDid} (pinned with --broker-did)`);
  } else {
    out.push(`  checkpoints signed by ${report.brokerDid}: UNPINNED, taken from the file's first checkpoint;`);
    out.push('  pass --broker-did (from `broker identity --no-create`) to refuse a log re-signed with another key');
  }
  for (const r of report.rotations) out.push(`  line ${r.line}: ${r.from} handed over to ${r.to} (a broker rotation), which signs from there on`);
  if (report.lastCheckpoint) {
    out.push(`  last checkpoint: line ${report.lastCheckpoint.line}, seq ${report.lastCheckpoint.seq} (signs every entry before it)`);
  }
  out.push(`  ${count(report.unprotectedEntries, 'entry', 'entries')} after the last checkpoint: chained but unsigned, they could be truncated or rewritten undetected`);
  out.push('  a cut back to an earlier checkpoint is only visible against a copy of the latest checkpoint kept elsewhere (stderr/SIEM)');
  for (const t of report.tornFragments) {
    out.push(`  line ${t.line}: ${t.lines} partial line(s), ${t.bytes} bytes, from a crash; unverified, frozen by the record at line ${t.recordLine}`);
  }
  if (report.unrecordedTail) {
    const t = report.unrecordedTail;
    out.push(`  line ${t.line}: ends with ${t.lines} partial line(s), ${t.bytes} bytes (a crash, or a write in progress); unverified`);
  }
  return `${out.join('\n')}\n`;
}
