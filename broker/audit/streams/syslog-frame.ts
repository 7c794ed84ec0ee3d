import { hostname } from 'node:os';

/** RFC 5424 APP-NAME of every message. */
export const SYSLOG_APP_NAME = 'vaultysclaw-broker';
/** Facility 13, "log audit" (RFC 5424 §6.2.1). */
const FACILITY = 13;

/** pino's numeric level → RFC 5424 severity (fatal critical, error, warning, info informational, debug and trace debug). */
function severity(level: unknown): number {
  if (typeof level !== 'number') return 5;
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** A header field: printable US-ASCII without spaces, at most `max` characters, or the NILVALUE. */
function headerField(value: unknown, max: number): string {
  if (typeof value !== 'string' && typeof value !== 'number') return '-';
  const text = String(value).replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return text.length > 0 ? text : '-';
}

function timestamp(time: unknown): string {
  if (typeof time !== 'number' || !Number.isFinite(time)) return '-';
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? '-' : date.toISOString();
}

const HOST = headerField(hostname(), 255);

/**
 * One audit line as an RFC 5424 message framed by octet counting (RFC 6587 §3.4.1): the header says who and
 * what (PRI from the line's level, its time, this host, the app, this process, the event as MSGID) and MSG is
 * the exact audit.log line, so the receiver can hash it and follow the chain (seq, prev) itself.
 */
export function syslogFrame(line: string, fields: Record<string, unknown>, procId: number = process.pid): Buffer {
  const header = `<${FACILITY * 8 + severity(fields.level)}>1 ${timestamp(fields.time)} ${HOST} ${SYSLOG_APP_NAME} ${procId} ${headerField(fields.event, 32)} -`;
  const message = Buffer.from(`${header} ${line}`, 'utf8');
  return Buffer.concat([Buffer.from(`${message.length} `, 'ascii'), message]);
}
