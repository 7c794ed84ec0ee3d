import { randomBytes } from 'node:crypto';
import type { BrokerDatabase } from '../../../../broker/store/database';
import { AgentRegistry } from '../../../../broker/store/agent-registry';
import { IntentStore } from '../../../../broker/store/intent-store';
import type { IntentBody } from '../../../../core/wire/intent';
import { did } from './temp-database';

/** A write_file intent from `did(2)` to `agent`, as the broker signs it; the envelopes are random bytes (the stores keep them, they do not verify them). */
export function intentBody(id: string, agent: string, at: number, params: Record<string, unknown> = {}): IntentBody {
  return { id, agent, capability: 'write_file', params, user: did(2), delegation: { payload: randomBytes(8), signature: randomBytes(8) }, revocationVersion: 0, issuedAt: at, expiresAt: at + 60_000 };
}

export const envelope = () => ({ payload: randomBytes(16), signature: randomBytes(64) });

/** Registers `agent` and records the intents as sent: the rows that approvals, token reports and resend counts reference. */
export function sendIntents(db: BrokerDatabase, ids: string[], agent = did(1), at = 1): IntentStore {
  new AgentRegistry(db).recordSeen(agent, 'AA==', { name: `agent ${agent.slice(-4)}`, requested: ['write_file'], agentVersion: 't' }, at);
  const intents = new IntentStore(db, at);
  for (const id of ids) intents.recordSent(intentBody(id, agent, at), envelope(), at);
  return intents;
}
