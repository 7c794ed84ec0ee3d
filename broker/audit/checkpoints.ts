import type pino from 'pino';
import { signTagged, verifyTagged, VaultysId, type SecretIdentity } from '../../core/identity';
import { CHECKPOINT_EVENT, checkpointBody, type ChainEntry } from './chain';
import type { ChainedDestination } from './chained-destination';
import { audit } from './audit-log';

const CONTEXT = 'vaultysclaw/audit-checkpoint/v1';

export interface CheckpointPolicy {
  /** A checkpoint after this many entries since the last one. */
  everyLines: number;
  /** And at least this often while there are new entries, so a quiet broker's tail does not stay unsigned. */
  everyMs: number;
}

export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = { everyLines: 100, everyMs: 60_000 };

export type CheckpointReason = 'start' | 'lines' | 'interval' | 'shutdown' | 'rotation' | 'resume';

/**
 * The broker's signatures over its own audit chain. A hash chain alone can be
 * rewritten from any point by whoever can write the file; a checkpoint signed
 * by the broker's key pins every entry before it, so a rewrite is detected
 * unless the attacker also holds broker.key. Entries after the last checkpoint
 * are only chained, not signed: they can be cut off or rewritten undetected.
 *
 * A checkpoint is an ordinary log line (through the logger, so that it also
 * reaches stderr and whatever collects it: an off-host copy of the latest
 * checkpoint is what makes truncation detectable at all).
 */
export class AuditCheckpoints {
  #sinceLast = 0;
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  readonly #log: pino.Logger;
  #closed = false;

  constructor(
    private readonly destination: ChainedDestination,
    private signer: SecretIdentity,
    log: pino.Logger,
    private readonly policy: CheckpointPolicy = DEFAULT_CHECKPOINT_POLICY,
  ) {
    // Its own level: a broker run at 'warn' must still write its checkpoints.
    this.#log = log.child({}, { level: 'info' });
    this.#unsubscribe = destination.onAppend((entry) => this.#counted(entry));
    this.#timer = setInterval(() => {
      if (this.#sinceLast > 0) this.checkpoint('interval');
    }, policy.everyMs);
    this.#timer.unref();
  }

  /**
   * Signs the chain's head as the next entry. Synchronous with the
   * destination: nothing can be appended between reading the head and
   * writing the checkpoint that names it.
   */
  checkpoint(reason: CheckpointReason): void {
    const { nextSeq: seq, head } = this.destination.state;
    const signature = signTagged(this.signer, CONTEXT, checkpointBody(seq, head, this.signer.did));
    audit(this.#log).info(
      CHECKPOINT_EVENT,
      {
        reason,
        seq,
        head,
        broker: this.signer.did,
        brokerId: this.signer.id.toBase64(),
        signature: Buffer.from(signature).toString('base64'),
      },
      'audit checkpoint',
    );
  }

  /**
   * A rotation: the outgoing key signs everything so far, the identity.rotated
   * entry naming its successor included; the new key signs from then on.
   */
  handOver(next: SecretIdentity): void {
    this.checkpoint('rotation');
    this.signer = next;
  }

  /** The shutdown checkpoint, always written, so a cleanly stopped broker's log ends signed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unsubscribe();
    this.checkpoint('shutdown');
  }

  #counted(entry: { fields: Record<string, unknown> }): void {
    if (entry.fields.event === CHECKPOINT_EVENT) {
      this.#sinceLast = 0;
      return;
    }
    this.#sinceLast += 1;
    // Re-entrant on purpose: called from inside the destination's write, after that entry is down.
    if (this.#sinceLast >= this.policy.everyLines) this.checkpoint('lines');
  }
}

export type CheckpointCheck = { ok: true; did: string } | { ok: false; detail: string };

/**
 * Checks a checkpoint entry: it covers its own chain position, and its
 * signature verifies with the id it states, whose DID must be the pinned one.
 */
export function verifyCheckpoint(entry: ChainEntry, pinnedDid: string | undefined): CheckpointCheck {
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
  if (!verifyTagged(id, CONTEXT, checkpointBody(entry.seq, head, id.did), new Uint8Array(Buffer.from(signature, 'base64')))) {
    return { ok: false, detail: `the signature does not verify with ${id.did}` };
  }
  return { ok: true, did: id.did };
}
