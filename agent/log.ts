import pino from 'pino';
import { LOG_REDACTION } from '../core/log/redaction';

/** The agent's one logger factory: JSON lines on stderr; keys and secrets are redacted whatever a caller passes. */
export function createAgentLogger(level = process.env.VAULTYSCLAW_LOG_LEVEL ?? 'info'): pino.Logger {
  return pino(
    { level, base: { component: 'agent' }, redact: LOG_REDACTION },
    pino.destination({ dest: 2, sync: true }),
  );
}
