import type pino from 'pino';
import { BUDGETS } from '../../core/budgets';
import { guarded } from '../../core/io/guarded';
import { audit } from '../audit/audit-log';
import type { AuditLine } from '../../core/audit/events';

export interface RefusalAuditLimits {
  /** Refusal lines written in full per interval. */
  linesPerInterval: number;
  intervalMs: number;
}

export const DEFAULT_REFUSAL_AUDIT_LIMITS: RefusalAuditLimits = {
  linesPerInterval: BUDGETS.refusalAuditLines.limit,
  intervalMs: BUDGETS.refusalSummaryMs.limit,
};

/** A refusal line: `event` and `code` or `reason` name what was refused. */
export type RefusalLine = AuditLine & { code?: string; reason?: string };

/** Keys kept per summary: reasons come from fixed sets, addresses from strangers; both stay bounded whatever arrives. */
const MAX_KEYS = 32;
const OTHER = 'other';

/**
 * The audit of refusals of peers that have not authenticated. A stranger chooses how many frames and sockets it
 * sends, and the audit log is hash-chained and fails closed when its disk is full: a line per refused frame would
 * let anyone fill the disk and stop the broker. So the first refusals of each interval are written in full (what
 * an operator debugging one misconfigured agent needs), and the rest are counted, per reason and per address,
 * into one `auth.refused-summary` line at the end of the interval.
 */
export class RefusalAudit {
  readonly #timer: NodeJS.Timeout;
  #fullLeft: number;
  readonly #reasons = new Map<string, number>();
  readonly #addresses = new Map<string, number>();
  #suppressed = 0;

  constructor(
    private readonly log: pino.Logger,
    private readonly limits: RefusalAuditLimits = DEFAULT_REFUSAL_AUDIT_LIMITS,
  ) {
    this.#fullLeft = limits.linesPerInterval;
    this.#timer = setInterval(
      guarded((err) => audit(log).error('hub.internal-error', { err: (err as Error).message }, 'could not write the refusal summary'), () => this.flush()),
      limits.intervalMs,
    );
    this.#timer.unref();
  }

  /** Audits one refusal of a peer at `address` through `log` (which names the address), or counts it. */
  refused(log: pino.Logger, address: string, line: RefusalLine, message: string): void {
    if (this.#fullLeft > 0) {
      this.#fullLeft--;
      audit(log).line('warn', line, message);
      return;
    }
    this.#suppressed++;
    count(this.#reasons, `${line.event}:${line.code ?? line.reason ?? 'refused'}`);
    count(this.#addresses, address);
  }

  /** Ends the interval: one summary line if anything was counted, and a fresh budget of full lines. */
  flush(): void {
    this.#fullLeft = this.limits.linesPerInterval;
    if (this.#suppressed === 0) return;
    audit(this.log).warn(
      'auth.refused-summary',
      {
        intervalMs: this.limits.intervalMs,
        suppressed: this.#suppressed,
        reasons: Object.fromEntries(this.#reasons),
        addresses: Object.fromEntries(this.#addresses),
      },
      'refusals of unauthenticated peers not written one by one',
    );
    this.#suppressed = 0;
    this.#reasons.clear();
    this.#addresses.clear();
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}

function count(counts: Map<string, number>, key: string): void {
  const k = counts.has(key) || counts.size < MAX_KEYS - 1 ? key : OTHER;
  counts.set(k, (counts.get(k) ?? 0) + 1);
}
