export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const PINO_LEVELS: Record<number, LogLevel> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'error' };

/**
 * One line of the broker's stderr (pino JSON) as a log entry: its level, and
 * its message with the event and the fields worth reading. Anything else (a
 * banner, a crash trace) is kept whole as an error line.
 */
export function parseBrokerLogLine(line: string): { level: LogLevel; text: string } | undefined {
  const trimmed = line.trim();
  if (!trimmed) return undefined;
  if (!trimmed.startsWith('{')) return { level: 'error', text: trimmed };
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(trimmed) as Record<string, unknown>;
  } catch {
    return { level: 'error', text: trimmed };
  }
  const level = PINO_LEVELS[Number(entry.level)] ?? 'info';
  const { level: _l, time: _t, pid: _p, hostname: _h, component: _c, msg, event, seq: _s, prev: _pr, hash: _ha, ...rest } = entry;
  const fields = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
  return { level, text: `${event ? `[${String(event)}] ` : ''}${String(msg ?? '')}${fields}` };
}

/** Splits a stream of chunks into whole lines. */
export class LineSplitter {
  #partial = '';
  push(chunk: string): string[] {
    const text = this.#partial + chunk;
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    return lines;
  }
}

/** Why the broker stopped, from the errors it wrote: a taken port said plainly, else its error line. */
export function lastComplaint(recent: readonly string[]): string {
  if (recent.some((l) => /EADDRINUSE/.test(l))) return ' — the agent hub port is taken: set vaultysclaw.hubPort to a free port (0 picks one)';
  const line = [...recent].reverse().find((l) => /^(\w*Error\b|broker:)/.test(l)) ?? recent[recent.length - 1];
  return line ? ` — ${line.slice(0, 300)}` : '';
}
