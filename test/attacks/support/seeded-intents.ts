import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IdType, SecretIdentity } from '../../../core/identity';
import type { IntentBody, ResultBody } from '../../../core/wire/intent';
import { AgentRegistry } from '../../../broker/store/agent-registry';
import { openDatabase } from '../../../broker/store/database';
import { IntentStore } from '../../../broker/store/intent-store';
import { openSqliteStorage } from '../../../broker/store/sql/sqlite-storage';

export interface SeedOptions {
  count: number;
  /** Bytes of the `content` string of each intent's output. */
  outputBytes: number;
  /** Bytes of each signed result envelope's payload (the agent's signed answer). */
  resultPayloadBytes: number;
  /** Bytes of each intent's `content` param (a write_file as large as the operator may send). */
  paramBytes?: number;
  /** created_at of the newest intent; two intents share each millisecond, so a cursor must break ties. */
  newestAt?: number;
}

/**
 * Fills a stopped broker's real SQLite file with `count` finished intents of
 * one approved-looking agent, through the broker's own stores: what a viewer
 * finds after a busy week with large outputs.
 */
export async function seedIntents(dataDir: string, options: SeedOptions): Promise<{ agent: string; ids: string[] }> {
  const db = openDatabase(join(dataDir, 'broker.db'));
  const storage = openSqliteStorage(db);
  try {
    const agent = SecretIdentity.generate(IdType.Machine);
    const user = SecretIdentity.generate(IdType.Person);
    const newestAt = options.newestAt ?? Date.now();
    const oldestAt = newestAt - Math.floor((options.count - 1) / 2);
    await new AgentRegistry(storage).recordSeen(agent.did, agent.id.toBase64(), { name: 'seeded', requested: ['write_file'], agentVersion: 'seed' }, oldestAt);
    const intents = await IntentStore.open(storage, oldestAt);
    const output = { content: 'o'.repeat(options.outputBytes), truncated: false };
    const content = 'p'.repeat(options.paramBytes ?? 16);
    const ids: string[] = [];
    // One commit per write (relaxed, as the broker makes them): the store sets its durability per statement.
    {
      for (let i = 0; i < options.count; i++) {
        const at = oldestAt + Math.floor(i / 2);
        const id = randomBytes(16).toString('hex');
        const body: IntentBody = {
          id,
          agent: agent.did,
          capability: 'write_file',
          params: { path: `file-${i}.txt`, content },
          user: user.did,
          delegation: { payload: randomBytes(256), signature: randomBytes(64) },
          revocationVersion: 0,
          issuedAt: at,
          expiresAt: at + 60_000,
        };
        await intents.recordSent(body, { payload: randomBytes(1024), signature: randomBytes(64) }, at);
        const result: ResultBody = { intentId: id, agent: agent.did, outcome: 'succeeded', reason: null, message: 'ok', output, finishedAt: at };
        await intents.recordResult(result, { payload: Buffer.alloc(options.resultPayloadBytes, 0x72), signature: randomBytes(64) }, at);
        ids.push(id);
      }
    }
    return { agent: agent.did, ids: ids.reverse() };
  } finally {
    await storage.close();
    db.close();
  }
}

/** Peak resident memory of a process so far, from /proc (Linux), in bytes. */
export function peakRssBytes(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(match[1]) * 1024;
}
