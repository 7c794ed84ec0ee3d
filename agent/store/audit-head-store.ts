import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKPOINT_EVENT, parseLine, verifyCheckpoint } from '../../core/audit/chain-entry';
import { BUDGETS } from '../../core/budgets';

/** In the agent's state directory: `broker audit verify --witness <dir>/broker-audit-head.jsonl` reads it as it is. */
export const AUDIT_HEAD_FILE = 'broker-audit-head.jsonl';

export type HeadOffer =
  | { ok: true; seq: number; stored: boolean }
  | { ok: false; reason: 'oversize' | 'not-a-checkpoint' | 'bad-signature' | 'lower-seq' | 'conflicting'; detail: string; held?: number };

interface Held {
  did: string;
  seq: number;
  hash: string;
  line: string;
}

/**
 * The latest signed audit checkpoint each broker id handed this agent: the agent is a witness of the broker's
 * log, off the broker host, and a broker whose log was cut back (or rewritten) after the fact cannot take that
 * back. One line per broker DID (a rotation brings a new one), the exact audit.log line, so the file is itself
 * a witness file. A head is kept only if it verifies under the broker id this agent authenticated, and only if
 * it is not older than the one held: a lower seq is refused and reported, since it is evidence in itself.
 */
export class AuditHeadStore {
  readonly file: string;

  constructor(stateDir: string) {
    this.file = join(stateDir, AUDIT_HEAD_FILE);
  }

  /** `brokerDid`: the broker id of the handshake this head came on, never an id the line names. */
  offer(line: Uint8Array, brokerDid: string): HeadOffer {
    const limit = BUDGETS.auditHeadBytes.limit;
    if (line.length > limit) return { ok: false, reason: 'oversize', detail: `${line.length} bytes, over ${limit}` };
    const parsed = parseLine(line);
    if (parsed.kind !== 'entry' || parsed.entry.fields.event !== CHECKPOINT_EVENT) return { ok: false, reason: 'not-a-checkpoint', detail: 'not a checkpoint entry of an audit log' };
    const { entry } = parsed;
    const check = verifyCheckpoint(entry, brokerDid);
    if (!check.ok) return { ok: false, reason: 'bad-signature', detail: check.detail };
    const heads = this.#read();
    const held = heads.find((h) => h.did === brokerDid);
    if (held && entry.seq < held.seq) {
      return { ok: false, reason: 'lower-seq', detail: `seq ${entry.seq} is older than the seq ${held.seq} this broker id signed before`, held: held.seq };
    }
    if (held && entry.seq === held.seq) {
      if (held.hash === entry.hash) return { ok: true, seq: entry.seq, stored: false };
      return { ok: false, reason: 'conflicting', detail: `another checkpoint than the one held at seq ${entry.seq}`, held: held.seq };
    }
    const next: Held = { did: brokerDid, seq: entry.seq, hash: entry.hash, line: Buffer.from(line).toString('utf8') };
    this.#write(held ? heads.map((h) => (h === held ? next : h)) : [...heads, next]);
    return { ok: true, seq: entry.seq, stored: true };
  }

  #read(): Held[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const heads: Held[] = [];
    for (const line of text.split('\n')) {
      // The agent's own file, but checked as it is read: a line that is not a signed checkpoint is dropped, not trusted.
      const parsed = parseLine(Buffer.from(line, 'utf8'));
      if (parsed.kind !== 'entry' || parsed.entry.fields.event !== CHECKPOINT_EVENT) continue;
      const check = verifyCheckpoint(parsed.entry, undefined);
      if (check.ok && !heads.some((h) => h.did === check.did)) heads.push({ did: check.did, seq: parsed.entry.seq, hash: parsed.entry.hash, line });
    }
    return heads;
  }

  /** Atomic, like the pin: a crash leaves the old heads or the new ones, never half a file. */
  #write(heads: Held[]): void {
    const temp = `${this.file}.tmp`;
    writeFileSync(temp, heads.map((h) => `${h.line}\n`).join(''), { mode: 0o600 });
    renameSync(temp, this.file);
  }
}
