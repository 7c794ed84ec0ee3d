// Leak: the agent's logger hides the same fields as the broker's (one list, core/log/redaction.ts), at the top
// level and two levels down. Its lines go to fd 2, so the logger runs in a child and its stderr is read.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { REDACTED_FIELDS } from '../../core/log/redaction';

const CHILD = join(import.meta.dirname, 'support', 'agent-log-child.ts');

/** Runs `createAgentLogger().info(fields)` in a child; returns the line it wrote. */
function loggedBy(fields: Record<string, unknown>): Promise<{ text: string; line: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(fields)], { timeout: 60_000 }, (err, _stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      const text = stderr.trim();
      resolve({ text, line: JSON.parse(text) as Record<string, unknown> });
    });
  });
}

test('Leak: every field of the one redaction list is hidden in the agent\'s log lines, two levels deep', async () => {
  const planted: string[] = [];
  const plant = () => {
    const value = `leak-${randomBytes(8).toString('hex')}`;
    planted.push(value);
    return value;
  };
  const fields = (): Record<string, unknown> => Object.fromEntries(REDACTED_FIELDS.filter((f) => !f.includes('.')).map((f) => [f, plant()]));
  const { text, line } = await loggedBy({
    event: 'test.leak',
    ...fields(),
    nested: { ...fields(), deeper: fields() },
    metadata: { name: 'build-1', invitation: plant() },
    kept: 'visible',
  });
  for (const value of planted) assert.ok(!text.includes(value), `${value} reached the agent's log`);
  assert.equal(line.password, '[redacted]');
  assert.equal((line.nested as { privateKey: string }).privateKey, '[redacted]');
  assert.equal(line.kept, 'visible', 'control: other fields are written');
  assert.equal(line.component, 'agent');
});
