import { checkpointNodeOf, type CheckpointNode } from '../../core/audit/chain-entry';
import { VaultysId, type SealedEnvelope } from '../../core/identity';
import { CHECKPOINT_EVENT, GENESIS_PREV, ROTATION_EVENT, TORN_LINE_EVENT, UNVERIFIED_TAIL_EVENT, parseLine, sha256Hex, type ChainEntry } from './chain';
import { verifyCheckpoint } from './checkpoints';
import { readLinesForward, type RawLine } from './log-lines';
import { RootAnchor } from './root-anchor';
import { WitnessedPositions, type WitnessInput, type WitnessReport } from './witness-check';

export type TamperReason =
  | 'edited'
  | 'deleted or reordered'
  | 'bad checkpoint signature'
  | 'not JSON'
  | 'not a chain entry'
  /** A hand-over to a new id without the root's certificate of that id replacing the old one. */
  | 'unanchored hand-over'
  /** A checkpoint signed by an id the root had revoked by then. */
  | 'revoked signer'
  /** Anchored to the root, the log does not end under the id the root currently certifies. */
  | 'not certified by the root'
  /** Pinned, the log has no checkpoint at all: nothing in it is signed. */
  | 'unsigned'
  /** Entries after the last checkpoint, without --allow-unprotected-tail. */
  | 'unprotected tail'
  /** A witness (--witness) holds a checkpoint the log no longer has: the log was cut back, maybe written on since. */
  | 'truncated'
  /** A checkpoint names another cluster node than the log's earlier ones: lines of two nodes' logs put together. */
  | 'node changed'
  /** Verified with other logs of a cluster (verify-cluster-logs.ts): this one names no node, so it cannot be told apart. */
  | 'unnamed node'
  /** Another log given names the same node: one of the two is not that node's log. */
  | 'duplicate node'
  /** The log names another cluster than the first log given. */
  | 'another cluster'
  /** The log is signed by broker ids that no other log given shares: another broker's log. */
  | 'another broker';

export interface VerifyOptions {
  /** The id the log's first checkpoint must be signed by (`--broker-did`). */
  brokerDid?: string;
  /** The root the log must be anchored to (`--root`): hand-overs certified by it, the end under its current id. */
  anchor?: RootAnchor;
  /** Accept entries after the last checkpoint (a running broker's log), reporting them; refused otherwise. */
  allowUnprotectedTail?: boolean;
  /** Checkpoints kept outside the broker host (witness-check.ts): the log must still hold the highest trusted one. */
  witness?: WitnessInput;
}

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
  /** False when neither --broker-did nor --root was given: checkpoints were checked against the id the first one states. */
  pinned: boolean;
  /** The root the log was anchored to (--root), or null. */
  root: string | null;
  /** Entries the broker found after its last checkpoint when it started, and signed as not vouched for. */
  unverifiedTails: { line: number; toLine: number; entries: number; markerLine: number }[];
  lastCheckpoint: { line: number; seq: number } | null;
  /** The first checkpoint and the id that signed it. */
  firstCheckpoint: { line: number; did: string } | null;
  /** The cluster node the log's checkpoints name (signed), from the first that names one; null for a single broker's log. */
  node: { name: string; cluster: string; line: number } | null;
  /** Broker rotations: from here on the successor signs, the old key having signed the hand-over. */
  rotations: { line: number; from: string; to: string }[];
  /** Entries after the last checkpoint: chained but not signed, so they can be truncated or rewritten undetected. */
  unprotectedEntries: number;
  /** Crash fragments, each frozen by the 'audit.torn-line' record that follows it. */
  tornFragments: { line: number; lines: number; bytes: number; recordLine: number }[];
  /** Fragments at the very end that no record covers yet (a crash since the broker last started, or a write in progress). */
  unrecordedTail: { line: number; lines: number; bytes: number } | null;
  /** What the witnesses given prove (null without --witness: truncation after the last checkpoint is then undetectable). */
  witness: WitnessReport | null;
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
export function verifyAuditLines(lines: Iterable<RawLine>, options: VerifyOptions = {}): AuditLogReport {
  const anchor = options.anchor;
  const report: AuditLogReport = {
    ok: true,
    lines: 0,
    entries: 0,
    checkpoints: 0,
    brokerDid: options.brokerDid ?? null,
    pinned: options.brokerDid !== undefined || anchor !== undefined,
    root: anchor?.rootDid ?? null,
    unverifiedTails: [],
    lastCheckpoint: null,
    firstCheckpoint: null,
    node: null,
    rotations: [],
    unprotectedEntries: 0,
    tornFragments: [],
    unrecordedTail: null,
    witness: null,
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
  let announced: Announced | null = null;
  let successor: string | null = null;
  // Without --root, hand-overs are still checked against the one root the log's own rotation records name.
  let logRoot: RootAnchor | null = anchor ?? null;
  let firstUnprotected: { line: number; seq: number } | null = null;
  const witnessed = options.witness ? new WitnessedPositions(options.witness) : null;
  // Whose checkpoints a witness may hold: the ids this log's own checkpoints were checked against.
  const signers = new Set<string>(options.brokerDid === undefined ? [] : [options.brokerDid]);

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
    if (event === ROTATION_EVENT && typeof from === 'string' && typeof to === 'string') announced = { from, to, line: line.number, seq: entry.seq, fields: entry.fields };
    if (event === UNVERIFIED_TAIL_EVENT) {
      // The broker restarted on entries no checkpoint of its own covered: it signs that it does not vouch for them,
      // so a hand-over among them (appended by whoever could write the file) never counts.
      if (firstUnprotected && previous) report.unverifiedTails.push({ line: firstUnprotected.line, toLine: previous.line, entries: report.unprotectedEntries, markerLine: line.number });
      announced = null;
    }
    if (event === CHECKPOINT_EVENT) {
      // After a hand-over only the successor signs: the replaced key (perhaps stolen) can no longer vouch for anything.
      const check = verifyCheckpoint(entry, successor ?? report.brokerDid ?? undefined);
      if (!check.ok) return fail(line.number, entry.seq, 'bad checkpoint signature', check.detail);
      successor = null;
      if (announced?.from === check.did) {
        if (!logRoot) logRoot = rootNamedBy(announced.fields);
        const problem = handOverProblem(announced, logRoot);
        if (problem) return fail(announced.line, announced.seq, 'unanchored hand-over', problem);
        successor = announced.to;
        report.rotations.push({ line: line.number, from: check.did, to: successor });
      }
      // A revoked key's checkpoints after its revocation vouch for nothing, except the certified hand-over itself
      // (a compromise rotation is signed by the old key after the root revoked it): the successor's next
      // checkpoint covers it, and the end of the log must be the successor's.
      const revokedAt = logRoot?.revokedAt(check.did) ?? null;
      const time = entry.fields.time;
      if (!successor && revokedAt !== null && !(typeof time === 'number' && time < revokedAt)) {
        return fail(line.number, entry.seq, 'revoked signer', `signed by ${check.did}, which root ${logRoot!.rootDid} revoked at ${new Date(revokedAt).toISOString()}`);
      }
      announced = null;
      // Signed with the head, so the node a checkpoint names is as good as its signature; a log names one node for good.
      const node = checkpointNodeOf(entry.fields) as CheckpointNode | null;
      if (report.node && (node?.node !== report.node.name || node.cluster !== report.node.cluster)) {
        const named = node ? `node ${node.node} of cluster ${node.cluster}` : 'no node';
        return fail(line.number, entry.seq, 'node changed', `it names ${named}, but the log's checkpoints from line ${report.node.line} name node ${report.node.name} of cluster ${report.node.cluster}`);
      }
      if (node && !report.node) report.node = { name: node.node, cluster: node.cluster, line: line.number };
      report.firstCheckpoint ??= { line: line.number, did: check.did };
      report.brokerDid = check.did;
      signers.add(check.did);
      if (successor) signers.add(successor);
      report.checkpoints += 1;
      report.lastCheckpoint = { line: line.number, seq: entry.seq };
      report.unprotectedEntries = 0;
      firstUnprotected = null;
    } else {
      report.unprotectedEntries += 1;
      firstUnprotected ??= { line: line.number, seq: entry.seq };
    }
    report.entries += 1;
    witnessed?.saw(entry.seq, entry.hash, line.number);
    previous = { line: line.number, seq: entry.seq };
    expectedSeq = entry.seq + 1;
    expectedPrev = entry.hash;
  }
  if (witnessed) {
    const current = anchor?.current();
    if (current?.ok) signers.add(current.did);
    const { report: witness, truncated } = witnessed.check(signers, report.node?.name ?? null, previous?.seq ?? null, report.lines);
    report.witness = witness;
    if (truncated) return fail(truncated.line, truncated.seq, 'truncated', truncated.detail);
  }
  if (report.pinned && report.checkpoints === 0) {
    return fail(report.lines || 1, null, 'unsigned', 'no checkpoint in the log: nothing in it is signed, so it could have been written by anyone');
  }
  if (anchor) {
    const current = anchor.current();
    if (!current.ok) return fail(report.lines, null, 'not certified by the root', current.detail);
    // The last checkpoint must be the current id's own: a hand-over alone can be replayed by the old key's holder
    // after a forged history, but nothing before a checkpoint of the successor can be changed.
    if (report.brokerDid !== current.did || successor !== null) {
      const endsUnder = successor ? `the hand-over to ${successor}, with no checkpoint of it yet` : `a checkpoint of ${report.brokerDid}`;
      return fail(
        report.lines,
        null,
        'not certified by the root',
        `the log ends with ${endsUnder}, but root ${anchor.rootDid} currently certifies ${current.did} (serial ${current.serial}): ` +
          'what followed the hand-over to it was cut, or the log was re-signed with a replaced key',
      );
    }
  }
  if (firstUnprotected && !options.allowUnprotectedTail) {
    return fail(
      firstUnprotected.line,
      firstUnprotected.seq,
      'unprotected tail',
      `${report.unprotectedEntries} entries after the last checkpoint are chained but not signed: anyone who can write the file could have ` +
        'appended them (pass --allow-unprotected-tail for the log of a running broker)',
    );
  }
  return report;
}

interface Announced {
  from: string;
  to: string;
  line: number;
  seq: number;
  fields: Record<string, unknown>;
}

const b64 = (v: unknown) => (typeof v === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(v) ? new Uint8Array(Buffer.from(v, 'base64')) : null);

function envelopeIn(value: unknown): SealedEnvelope | null {
  if (typeof value !== 'object' || value === null) return null;
  const payload = b64((value as { payload?: unknown }).payload);
  const signature = b64((value as { signature?: unknown }).signature);
  return payload && signature ? { payload, signature } : null;
}

function idIn(value: unknown): VaultysId | null {
  const bytes = b64(value);
  try {
    return bytes ? VaultysId.fromBytes(bytes) : null;
  } catch {
    return null;
  }
}

/** Unanchored verify: the root the first hand-over record names (every later one must name the same). */
function rootNamedBy(fields: Record<string, unknown>): RootAnchor | null {
  const id = idIn(fields.rootId);
  if (!id) return null;
  const anchor = new RootAnchor(id.did, Date.now());
  anchor.offerRoot(id);
  return anchor;
}

/**
 * A hand-over counts only with the root's certificate of the new id replacing
 * the old one (in the record, or among those the verifier was given): without
 * it, a line that names an arbitrary successor would hand the log to its author.
 */
function handOverProblem(announced: Announced, root: RootAnchor | null): string | null {
  if (!root) return `the hand-over to ${announced.to} carries no root certificate`;
  const id = idIn(announced.fields.rootId);
  if (id && !root.offerRoot(id)) return `the hand-over names root ${id.did}, not ${root.rootDid}`;
  const embedded = envelopeIn(announced.fields.certificate);
  if (embedded) root.addCertificate(embedded);
  if (root.certifiesHandOver(announced.from, announced.to)) return null;
  return `no certificate of root ${root.rootDid} makes ${announced.to} the successor of ${announced.from}`;
}

export function verifyAuditLog(path: string, options: VerifyOptions = {}): AuditLogReport {
  return verifyAuditLines(readLinesForward(path), options);
}

export const TRUNCATION_UNDETECTABLE = 'truncation after the last checkpoint is undetectable without a witness';

/** Failures that say the log proves too little, not that a line was changed. */
const NOT_PROVEN: ReadonlySet<TamperReason> = new Set(['unsigned', 'unprotected tail', 'not certified by the root', 'revoked signer', 'unnamed node']);

/** The human verdict: one line for the outcome, then what it does and does not prove. */
export function describeReport(path: string, report: AuditLogReport): string {
  const out: string[] = [];
  if (report.failure) {
    const f = report.failure;
    const verdict = NOT_PROVEN.has(f.reason) ? 'NOT VERIFIED' : 'TAMPERED';
    out.push(`${path}: ${verdict} at line ${f.line}${f.seq === null ? '' : ` (seq ${f.seq})`}: ${f.reason}: ${f.detail}`);
    out.push(`  before it: ${report.entries} entries and ${report.checkpoints} checkpoints verified`);
    out.push(...untrustedWitnessLines(report.witness));
    return `${out.join('\n')}\n`;
  }
  const count = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  out.push(`${path}: OK: ${count(report.lines, 'line')}, ${count(report.entries, 'chained entry', 'chained entries')}, ${count(report.checkpoints, 'signed checkpoint')}`);
  if (report.checkpoints === 0) {
    out.push('  no checkpoint: the chain is intact but nothing in it is signed, so the whole file could have been rewritten');
  } else if (report.root) {
    out.push(`  anchored to root ${report.root}: every hand-over certified by it, and the log ends under the id it currently certifies`);
  } else if (report.pinned) {
    out.push(`  checkpoints signed by ${report.rotations[0]?.from ?? report.brokerDid} (pinned with --broker-did)`);
  } else {
    out.push(`  checkpoints signed by ${report.brokerDid}: UNPINNED, taken from the file's first checkpoint;`);
    out.push('  pass --broker-did (from `broker identity --no-create`) to refuse a log re-signed with another key');
  }
  if (report.node) out.push(`  the log of node ${report.node.name} of cluster ${report.node.cluster} (signed from line ${report.node.line} on)`);
  for (const r of report.rotations) out.push(`  line ${r.line}: ${r.from} handed over to ${r.to} (a broker rotation), which signs from there on`);
  if (report.lastCheckpoint) {
    out.push(`  last checkpoint: line ${report.lastCheckpoint.line}, seq ${report.lastCheckpoint.seq} (signs every entry before it)`);
  }
  out.push(`  ${count(report.unprotectedEntries, 'entry', 'entries')} after the last checkpoint: chained but unsigned, they could be truncated or rewritten undetected`);
  out.push(...describeWitness(report.witness));
  for (const u of report.unverifiedTails) {
    out.push(`  lines ${u.line}-${u.toLine}: ${count(u.entries, 'entry', 'entries')} the broker found unsigned when it started; it does not vouch for them (marker at line ${u.markerLine})`);
  }
  for (const t of report.tornFragments) {
    out.push(`  line ${t.line}: ${t.lines} partial line(s), ${t.bytes} bytes, from a crash; unverified, frozen by the record at line ${t.recordLine}`);
  }
  if (report.unrecordedTail) {
    const t = report.unrecordedTail;
    out.push(`  line ${t.line}: ends with ${t.lines} partial line(s), ${t.bytes} bytes (a crash, or a write in progress); unverified`);
  }
  return `${out.join('\n')}\n`;
}

/** What the witnesses say about truncation, or that without one it is undetectable. */
function describeWitness(witness: WitnessReport | null): string[] {
  if (!witness) {
    return [
      `  ${TRUNCATION_UNDETECTABLE}: a cut back to an earlier checkpoint, or of the newest checkpoints, leaves a log that verifies;`,
      '  pass --witness with a copy of the latest checkpoint kept elsewhere (broker start --witness, a SIEM export, an agent\'s broker-audit-head.jsonl)',
    ];
  }
  const out =
    witness.witnessedSeq === null
      ? [`  witness ${witness.files.join(', ')}: no checkpoint of this log's signers in it, so it proves nothing about truncation`]
      : [`  witnessed up to seq ${witness.witnessedSeq} (${witness.witnessedBy}, ${witness.trusted} trusted checkpoint(s)): nothing up to it was cut`];
  return [...out, ...untrustedWitnessLines(witness)];
}

function untrustedWitnessLines(witness: WitnessReport | null): string[] {
  return (witness?.refused ?? []).map((r) => `  witness line ${r.source} NOT TRUSTED: ${r.detail}`);
}
