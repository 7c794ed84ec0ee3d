import { checkpointNodeOf } from '../../core/audit/chain-entry';
import { CHECKPOINT_EVENT, parseLine } from './chain';
import { verifyCheckpoint } from './checkpoints';
import { readLinesForward } from './log-lines';

/**
 * `broker audit verify --witness <file...>`: checkpoints held outside the broker host (the --witness file, a SIEM's
 * export, an agent's broker-audit-head.jsonl). Any JSON-lines file will do: its lines that are signed checkpoint
 * entries count, everything else in it is ignored. A checkpoint is trusted only if its signature verifies and its
 * signer is one the log's own checkpoints are checked against; the log must then hold the highest one, byte for
 * byte, or it was cut (or cut and written on from there).
 */

export interface WitnessedCheckpoint {
  /** file:line, for the report. */
  source: string;
  seq: number;
  hash: string;
  did: string;
  /** The cluster node it names (every node signs as one id: only the node tells whose log it witnesses), or null. */
  node: string | null;
}

export interface WitnessInput {
  files: string[];
  /** Checkpoint lines whose signature verifies with the id they state (whose id is trusted is the log's to say). */
  checkpoints: WitnessedCheckpoint[];
  /** Checkpoint lines that do not verify: a forgery or damage, reported and never trusted. */
  refused: { source: string; detail: string }[];
}

/** Reads the witness files; a file that cannot be read is an error (the operator named it). */
export function readWitnesses(files: string[]): WitnessInput {
  const input: WitnessInput = { files, checkpoints: [], refused: [] };
  for (const file of files) {
    for (const line of readLinesForward(file)) {
      const parsed = parseLine(line.bytes);
      if (parsed.kind !== 'entry' || parsed.entry.fields.event !== CHECKPOINT_EVENT) continue;
      const source = `${file}:${line.number}`;
      const check = verifyCheckpoint(parsed.entry, undefined);
      const named = checkpointNodeOf(parsed.entry.fields);
      const node = named === null || named === 'malformed' ? null : named.node;
      if (check.ok) input.checkpoints.push({ source, seq: parsed.entry.seq, hash: parsed.entry.hash, did: check.did, node });
      else input.refused.push({ source, detail: check.detail });
    }
  }
  return input;
}

export interface WitnessReport {
  files: string[];
  /** The log holds the witnessed checkpoint at this seq, and so every entry up to it; null if none is trusted. */
  witnessedSeq: number | null;
  witnessedBy: string | null;
  trusted: number;
  /** Witness lines not trusted, and why: a bad signature, or a signer that signs none of this log. */
  refused: { source: string; detail: string }[];
}

/** The log's entries at the seqs the witnesses name, as the verifier walks it. */
export class WitnessedPositions {
  readonly #wanted: Set<number>;
  readonly #found = new Map<number, { hash: string; line: number }>();

  constructor(readonly input: WitnessInput) {
    this.#wanted = new Set(input.checkpoints.map((c) => c.seq));
  }

  saw(seq: number, hash: string, line: number): void {
    if (this.#wanted.has(seq)) this.#found.set(seq, { hash, line });
  }

  /**
   * The verdict once the walk is done: `signers` are the ids the log's checkpoints were checked against (the pinned
   * one, every key a certified hand-over passed to), `node` the cluster node the log names, `lastSeq` the log's last entry.
   */
  check(signers: ReadonlySet<string>, node: string | null, lastSeq: number | null, lastLine: number): { report: WitnessReport; truncated: { line: number; seq: number; detail: string } | null } {
    const refused = [...this.input.refused];
    const trusted: WitnessedCheckpoint[] = [];
    for (const c of this.input.checkpoints) {
      if (!signers.has(c.did)) refused.push({ source: c.source, detail: `signed by ${c.did}, which signs none of this log's checkpoints: not trusted` });
      else if (c.node !== node) refused.push({ source: c.source, detail: `it names ${c.node === null ? 'no node' : `node ${c.node}`}, this log is ${node === null ? 'no node\'s' : `node ${node}'s`}: another log's checkpoint` });
      else trusted.push(c);
    }
    const highest = trusted.reduce<WitnessedCheckpoint | null>((best, c) => (best === null || c.seq > best.seq ? c : best), null);
    const report: WitnessReport = { files: this.input.files, witnessedSeq: null, witnessedBy: null, trusted: trusted.length, refused };
    if (!highest) return { report, truncated: null };
    const held = this.#found.get(highest.seq);
    if (held?.hash === highest.hash) return { report: { ...report, witnessedSeq: highest.seq, witnessedBy: highest.source }, truncated: null };
    const what = `${highest.source} witnessed the checkpoint at seq ${highest.seq}, signed by ${highest.did}`;
    if (held) {
      return { report, truncated: { line: held.line, seq: highest.seq, detail: `${what}, but the log holds another entry at seq ${highest.seq}: it was cut back before it and written on from there` } };
    }
    const end = lastSeq === null ? 'the log holds no entry' : `the log ends at seq ${lastSeq}`;
    return { report, truncated: { line: lastLine, seq: highest.seq, detail: `${what}, but ${end}: the entries after it were cut` } };
  }
}
