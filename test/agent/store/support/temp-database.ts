import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { AGENT_DATABASE_FILE } from '../../../../agent/store/agent-database';

/** A fresh state directory per call, removed when the test file ends; returns the database path in it. */
export function tempDatabasePath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vaultysclaw-agent-store-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, AGENT_DATABASE_FILE);
}
