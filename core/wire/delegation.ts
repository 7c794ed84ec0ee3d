import { z } from 'zod';
import { Did, EpochMs, IntentId } from './common';
import { Capability } from './policy';

/** An agent DID, or every agent. */
export const AgentScope = z.union([Did, z.literal('*')]);

/**
 * A user's authority over one agent or all of them (ctx vaultysclaw/delegation/v1),
 * signed by the broker after it checked the user's role and grant. Agents
 * verify it offline, never trusting the user's own claims.
 */
export const DelegationBody = z.strictObject({
  id: IntentId,
  user: Did,
  agent: AgentScope,
  capabilities: z.array(Capability).min(1).max(16),
  issuedAt: EpochMs,
  expiresAt: EpochMs,
});
export type DelegationBody = z.infer<typeof DelegationBody>;

/**
 * What is revoked (ctx vaultysclaw/revocation-list/v1), versioned so that an
 * agent can tell an old list from the current one: every intent names the
 * version it was issued under.
 */
export const RevocationListBody = z.strictObject({
  version: z.number().int().nonnegative(),
  issuedAt: EpochMs,
  delegations: z.array(IntentId).max(100_000),
  users: z.array(Did).max(100_000),
});
export type RevocationListBody = z.infer<typeof RevocationListBody>;
