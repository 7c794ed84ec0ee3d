/**
 * Fields that must never reach a log line of the broker or the agent, whatever a caller passes in: the one
 * list, redacted up to two levels deep (pino `redact`), so a secret one program's logger hides the other's
 * does not print.
 */
export const REDACTED_FIELDS = ['secret', 'privateKey', 'key', 'token', 'password', 'invitationToken', 'metadata.invitation'];

/** pino's `redact` option for every logger of ours. */
export const LOG_REDACTION = {
  paths: REDACTED_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
  censor: '[redacted]',
};
