import { appendFileSync, chmodSync, closeSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BUDGETS } from '../../../core/budgets';

export const DEAD_LETTER_FILE = 'notify-dead-letter.jsonl';

/** Why a notification was given up: its attempts spent, pushed out of a full queue, or the broker stopping. */
export type DeadLetterReason = 'attempts' | 'queue-full' | 'stopping';

export interface DeadLetter {
  deliveryId: string;
  type: string;
  reason: DeadLetterReason;
  attempts: number;
  /** The exact body, as it would have been signed: an operator can replay it to the receiver once it is back. */
  body: string;
}

/**
 * `<dataDir>/notify-dead-letter.jsonl`, 0600 (bodies name agents, users and the calls they made): one JSON line
 * per notification no receiver took. It never passes BUDGETS.deadLetterBytes, so a receiver down for months
 * does not fill the broker's disk; past it a dead letter is only counted (`write` says false).
 */
export class DeadLetterFile {
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, DEAD_LETTER_FILE);
    closeSync(openSync(this.path, 'a', 0o600));
    chmodSync(this.path, 0o600);
  }

  /** True when the line was written; false when it would take the file past its budget. */
  write(letter: DeadLetter): boolean {
    const line = Buffer.from(`${JSON.stringify({ ...letter, at: new Date().toISOString() })}\n`, 'utf8');
    if (statSync(this.path).size + line.length > BUDGETS.deadLetterBytes.limit) return false;
    appendFileSync(this.path, line, { mode: 0o600 });
    return true;
  }
}
