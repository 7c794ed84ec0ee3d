import { randomBytes } from 'node:crypto';
import { AgentRegistry } from '../../../../broker/store/agent-registry';
import { IntentStore } from '../../../../broker/store/intent-store';
import type { Storage } from '../../../../broker/store/sql/storage';
import type { IntentBody } from '../../../../core/wire/intent';
import { did } from './temp-database';

/** A write_file intent from `did(2)` to `agent`, as the broker signs it; the envelopes are random bytes (the stores keep them, they do not verify them). */
export function intentBody(id: string, agent: string, at: number, params: Record<string, unknown> = {}): IntentBody {
  return { id, agent, capability: 'write_file', params, user: did(2), delegation: { payload: randomBytes(8), signature: randomBytes(8) }, revocationVersion: 0, issuedAt: at, expiresAt: at + 60_000 };
}

export const envelope = () => ({ payload: randomBytes(16), signature: randomBytes(64) });

/**
 * Registers `agent` (AgentRegistry; nothing changes if it is there) and records the intents as sent, on either
 * backend: the rows that policies, approvals, token reports, resend counts and pending cancels reference.
 */
export async function sendIntents(storage: Storage, ids: readonly string[], agent = did(1), at = 1): Promise<IntentStore> {
  await new AgentRegistry(storage).recordSeen(agent, 'AA==', { name: `agent ${agent.slice(-4)}`, requested: ['write_file'], agentVersion: 't' }, at);
  const intents = await IntentStore.open(storage, at);
  for (const id of ids) await intents.recordSent(intentBody(id, agent, at), envelope(), at);
  return intents;
}
