import { join } from 'node:path';
import pino from 'pino';

/** Paths that must never reach a log line, whatever a caller passes in. */
const REDACT = ['secret', '*.secret', 'privateKey', '*.privateKey', 'key', '*.key', 'token', '*.token'];

/**
 * The broker's one logger factory: JSON lines to stderr (stdout is the
 * JSON-RPC channel under --stdio) and to broker.log in the data directory.
 */
export function createBrokerLogger(dataDir: string, level = process.env.VAULTYSCLAW_LOG_LEVEL ?? 'info'): pino.Logger {
  return pino(
    { level, base: { component: 'broker' }, redact: { paths: REDACT, censor: '[redacted]' } },
    pino.multistream([
      { level: level as pino.Level, stream: pino.destination({ dest: 2, sync: true }) },
      { level: level as pino.Level, stream: pino.destination({ dest: join(dataDir, 'broker.log'), mkdir: true, sync: false }) },
    ]),
  );
}
