import type { HandshakeRejection } from '../../../core/identity/challenger/rejections';
import { FINAL_INTENT_STATES } from '../../../core/rpc/views';
import { CAPABILITIES, RegistrationStatus } from '../../../core/wire/policy';
import { AUDIT_EVENTS } from '../../../core/audit/events';

/** The one value a label takes for anything outside its closed set. */
export const OTHER = 'other';

/**
 * A label's values come from a closed set, never from what a peer sent: each distinct label value is a new time
 * series held in memory for the life of the process and in the operator's Prometheus for its retention, so a
 * stranger who could choose one (a DID, an id, a reason string it made up) could grow both without bound.
 */
export function closedLabel<T extends string>(values: readonly T[]): (value: unknown) => T | typeof OTHER {
  const allowed = new Set<string>(values);
  return (value) => (typeof value === 'string' && allowed.has(value) ? (value as T) : OTHER);
}

// A Record over the union: the compiler refuses this table when a rejection is added to core without it here.
const HANDSHAKE_REJECTIONS: Record<HandshakeRejection, true> = {
  oversized: true, truncated: true, malformed: true, 'non-canonical': true, 'unsupported-version': true, 'bad-schema': true,
  'bad-metadata': true, 'unsupported-id': true, 'bad-id': true, 'unexpected-message': true, 'wrong-protocol': true,
  'self-handshake': true, 'metadata-preset': true, stale: true, 'bad-responder-signature': true, 'bad-initiator-signature': true,
  unsolicited: true, 'session-mismatch': true, 'timestamp-mismatch': true, 'peer-mismatch': true, 'metadata-rewritten': true,
  'peer-refused': true, replay: true, 'out-of-order': true,
};

/** Why a handshake was refused: the challenger's rejections, and the hub's and /rpc's own refusals around them. */
export const handshakeReason = closedLabel([
  ...(Object.keys(HANDSHAKE_REJECTIONS) as HandshakeRejection[]),
  'not-a-machine-id', 'not-a-user', 'handshake-timeout', 'rejected', 'revoked',
  // A user the admission refused at INIT: its reason, as the client is answered.
  'not-a-person', 'invitation-needed', 'invitation-invalid', 'no-owner-yet', 'name-taken', 'user-removed',
]);
export const capabilityLabel = closedLabel(CAPABILITIES);
export const registrationLabel = closedLabel(RegistrationStatus.options);
/** An intent's final state, and `refused` for one the broker refused before sending it. */
export const intentStateLabel = closedLabel([...FINAL_INTENT_STATES, 'refused']);
export const checkpointReasonLabel = closedLabel(AUDIT_EVENTS['audit.checkpoint'].shape.reason.options);
export const approvalStateLabel = closedLabel(['approved', 'rejected', 'expired'] as const);
