// Brokers from before issue 14 certified policies with no allowed domain and no command limit. The upgrade
// adds the columns without touching those rows: such a policy reads back with no network and the widest
// limits (what its agent ran under before), a policy set after it keeps what the admin chose, and an agent's
// stated confinement is unknown until its next hello.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MIGRATIONS, openDatabase } from '../../../broker/store/database';
import { AgentRegistry } from '../../../broker/store/agent-registry';
import { PolicyStore } from '../../../broker/store/policy-store';
import { openSqliteStorage } from '../../../broker/store/sql/sqlite-storage';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import { removeDirs, tempDir } from '../../support/processes';

const dir = tempDir('limits-migration');
after(() => removeDirs(dir));

test('a policy stored before the upgrade reads as no network and the widest limits; a policy set after it keeps its own; confinement starts unknown', async () => {
  const path = join(dir, 'broker.db');
  const before = MIGRATIONS.findIndex((m) => m.includes('allowed_domains'));
  assert.ok(before > 0, 'the allowed_domains migration exists');
  const old = new Database(path);
  for (const migration of MIGRATIONS.slice(0, before)) old.exec(migration);
  old.pragma(`user_version = ${before}`);
  const did = `did:vaultys:01${'aa'.repeat(19)}`;
  old.prepare("INSERT INTO agents (did, id_b64, name, requested, status, first_seen, last_seen) VALUES (?, 'x', 'old', '[\"run_command\"]', 'approved', 1, 1)").run(did);
  old.prepare("INSERT INTO policies (agent_did, version, capabilities, approval_required, max_tokens_per_day, max_requests_per_hour, policy_expires_at, updated_at) VALUES (?, 4, '[\"run_command\"]', '[]', 10, 5, 9e12, 1)").run(did);
  old.close();

  const upgraded = openDatabase(path);
  const storage = openSqliteStorage(upgraded);
  try {
    const policies = new PolicyStore(storage);
    const stored = await policies.get(did);
    assert.equal(stored?.policyVersion, 4);
    assert.equal(stored && 'rules' in stored, false, 'a policy from before rules has none: its capabilities keep their meaning');
    assert.deepEqual(stored?.allowedDomains, []);
    assert.deepEqual(stored?.commandLimits, MAX_COMMAND_LIMITS);
    assert.equal((await new AgentRegistry(storage).get(did))?.confinement, null);

    const limits = { cpuSeconds: 5, memoryBytes: 1 << 20, processes: 3, fileBytes: 1 << 10, workspaceWriteBytes: 1 << 12 };
    const next = await policies.set(did, { capabilities: ['run_command'], approvalRequired: [], maxTokensPerDay: 10, maxRequestsPerHour: 5, validForMs: 60_000, allowedDomains: ['a.example.com', 'a.example.com', '*.npmjs.org'], commandLimits: limits, rules: null }, 1000);
    assert.equal(next.policyVersion, 5);
    assert.deepEqual(next.allowedDomains, ['a.example.com', '*.npmjs.org'], 'stored once each');
    assert.deepEqual(next.commandLimits, limits);
  } finally {
    await storage.close();
    upgraded.close();
  }
});
