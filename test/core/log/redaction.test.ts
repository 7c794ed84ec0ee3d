import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { LOG_REDACTION, REDACTED_FIELDS } from '../../../core/log/redaction';

/** One line of a real pino logger configured as the broker's and the agent's are, as the text that would reach the file. */
function logged(fields: Record<string, unknown>): string {
  const lines: string[] = [];
  const logger = pino({ redact: LOG_REDACTION }, { write: (line: string) => void lines.push(line) });
  logger.info(fields, 'event');
  assert.equal(lines.length, 1);
  return lines[0]!;
}

test('every redacted field is hidden at the top level, one level down and two levels down', () => {
  for (const field of REDACTED_FIELDS.filter((f) => !f.includes('.'))) {
    const line = logged({ [field]: 'TOP-SECRET', a: { [field]: 'ONE-SECRET', b: { [field]: 'TWO-SECRET' } } });
    assert.doesNotMatch(line, /SECRET/, field);
    assert.equal(JSON.parse(line)[field], '[redacted]', field);
    assert.equal(JSON.parse(line).a.b[field], '[redacted]', field);
  }
});

test('an invitation in a user\'s metadata is hidden, and what is not a secret is kept', () => {
  const line = JSON.parse(logged({ metadata: { invitation: 'INVITE-TOKEN', name: 'alice' }, did: 'did:vaultys:00' }));
  assert.equal(line.metadata.invitation, '[redacted]');
  assert.equal(line.metadata.name, 'alice');
  assert.equal(line.did, 'did:vaultys:00');
});
