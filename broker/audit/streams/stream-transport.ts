import type { StreamedLine } from './log-reader';

export type SendResult = { ok: true } | { ok: false; error: string };

/** How lines reach one destination. send() never throws or rejects, and settles within the delivery time. */
export interface StreamTransport {
  readonly kind: 'stdout' | 'syslog' | 'https';
  /** What an audit line may say about the destination: its origin, never a path or a token. */
  readonly name: string;
  /** Resolves ok once the destination has taken every line of the batch (see each transport for what that means). */
  send(lines: readonly StreamedLine[]): Promise<SendResult>;
  close(): void;
}
