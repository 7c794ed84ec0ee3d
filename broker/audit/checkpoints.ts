import type pino from 'pino';
import type { SecretIdentity } from '../../core/identity';
import { CHECKPOINT_EVENT, signCheckpoint, type CheckpointNode } from '../../core/audit/chain-entry';
import type { ChainedDestination } from './chained-destination';
import { audit } from './audit-log';

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
    /** The cluster node whose log this is (signed into every checkpoint), or undefined for a single broker. */
    private readonly node?: CheckpointNode,
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
    audit(this.#log).info(
      CHECKPOINT_EVENT,
      {
        reason,
        seq,
        head,
        broker: this.signer.did,
        brokerId: this.signer.id.toBase64(),
        ...this.node,
        signature: signCheckpoint(this.signer, seq, head, this.node),
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

export { verifyCheckpoint, type CheckpointCheck } from '../../core/audit/chain-entry';
