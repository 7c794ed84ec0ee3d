import { open, type VaultysId } from '../identity';
import type { IntentBody } from '../wire/intent';
import { DelegationBody, RevocationListBody } from '../wire/delegation';
import type { GateVerdict } from './intent-gates';

/** What an agent knows of revocations: the newest signed list it has verified. */
export interface RevocationState {
  version: number;
  delegations: ReadonlySet<string>;
  users: ReadonlySet<string>;
}

export const NO_REVOCATIONS: RevocationState = { version: -1, delegations: new Set(), users: new Set() };

const refuse = (reason: Extract<GateVerdict, { ok: false }>['reason'], message: string): GateVerdict => ({ ok: false, reason, message });

/**
 * The delegation gate (architecture.md): the intent's user is authorised by a
 * certificate signed by the pinned broker, for this user, this agent or all
 * agents, this capability, unexpired, and not revoked by a list at least as
 * new as the one the intent was issued under.
 */
export function checkDelegation(
  intent: IntentBody,
  g: {
    broker: VaultysId;
    /** After a rotation: the previous broker id, whose certificates count until the grace period the root set. */
    formerBroker?: { id: VaultysId; until: number } | null;
    agent: string;
    now: number;
    clockSkewMs: number;
    revocations: RevocationState;
  },
  /** The certificate's body when the caller is the broker that signed it in this process (never read back from outside): its signature needs no check. */
  signedHere?: DelegationBody,
): GateVerdict {
  if (!(g.revocations.version >= intent.revocationVersion)) {
    return refuse('revocation-list-stale', `intent issued under revocation list v${intent.revocationVersion}; this agent holds v${g.revocations.version}`);
  }
  let d = signedHere;
  if (!d) {
    let opened = open(g.broker, 'vaultysclaw/delegation/v1', intent.delegation);
    if (!opened.ok && opened.reason === 'bad-signature' && g.formerBroker) {
      const former = open(g.formerBroker.id, 'vaultysclaw/delegation/v1', intent.delegation);
      if (former.ok && !(g.now < g.formerBroker.until)) {
        return refuse('delegation-invalid', `delegation certificate is signed by the replaced broker id ${g.formerBroker.id.did}, whose grace period is over`);
      }
      if (former.ok) opened = former;
    }
    if (!opened.ok) return refuse('delegation-invalid', `delegation certificate: ${opened.message}`);
    const parsed = DelegationBody.safeParse(opened.body);
    if (!parsed.success) return refuse('delegation-invalid', 'delegation certificate does not match its schema');
    d = parsed.data;
  }
  if (d.user !== intent.user) return refuse('delegation-wrong-user', `delegation is for ${d.user}, the intent is from ${intent.user}`);
  if (d.agent !== '*' && d.agent !== g.agent) return refuse('delegation-wrong-agent', `delegation is for agent ${d.agent}`);
  if (!d.capabilities.includes(intent.capability)) return refuse('delegation-capability', `delegation does not cover ${intent.capability}`);
  if (!(d.issuedAt <= g.now + g.clockSkewMs)) return refuse('delegation-invalid', 'delegation was issued in the future');
  if (!(d.expiresAt > g.now)) return refuse('delegation-expired', 'delegation has expired');
  if (g.revocations.delegations.has(d.id)) return refuse('delegation-revoked', `delegation ${d.id} is revoked`);
  if (g.revocations.users.has(d.user)) return refuse('delegation-revoked', `user ${d.user} is revoked`);
  return { ok: true };
}

/** Verifies a pushed revocation list; the caller keeps it only if it is newer than what it holds. */
export function readRevocationList(broker: VaultysId, envelope: { payload: Uint8Array; signature: Uint8Array }): RevocationState | string {
  const opened = open(broker, 'vaultysclaw/revocation-list/v1', envelope);
  if (!opened.ok) return `revocation list: ${opened.message}`;
  const parsed = RevocationListBody.safeParse(opened.body);
  if (!parsed.success) return 'revocation list does not match its schema';
  return { version: parsed.data.version, delegations: new Set(parsed.data.delegations), users: new Set(parsed.data.users) };
}
