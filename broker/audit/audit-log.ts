import type pino from 'pino';
import type { AuditEvent, AuditFields, AuditLine } from '../../core/audit/events';

export type AuditLevel = 'debug' | 'info' | 'warn' | 'error';
type Write = <E extends AuditEvent>(event: E, fields: AuditFields<E>, message: string) => void;

/** A broker logger seen through the audit catalogue: the only way the broker writes a line (each goes to audit.log). */
export type AuditWriter = Record<AuditLevel, Write> & {
  /** A line built beforehand (by a refusal, handed to a channel that budgets it). */
  line(level: AuditLevel, line: AuditLine, message: string): void;
};

/**
 * `audit(log).info('intent.routed', { … }, 'message')`: the event is a name from core/audit/events.ts and its fields
 * are the ones it lists, checked by the compiler. pino stays underneath, and a line is `{ event, ...fields }` as
 * before, so the chain, the checkpoints and `broker audit verify` see the same lines.
 */
export function audit(log: pino.Logger): AuditWriter {
  const at =
    (level: AuditLevel): Write =>
    (event, fields, message) =>
      log[level]({ event, ...(fields as object) }, message);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), line: (level, line, message) => log[level](line, message) };
}
