import type { RejectionReason } from '../../core/wire/intent';

/**
 * The gate of the decision order (core/policy/intent-gates.ts) a refusal reason comes from, in the words the dry
 * run shows. Typed over every reason, so a reason added to the wire without a gate here does not compile.
 */
const GATES: Record<RejectionReason, string> = {
  'bad-signature': 'signature',
  malformed: 'params',
  'wrong-agent': 'addressee',
  stale: 'freshness',
  'from-future': 'freshness',
  expired: 'freshness',
  replay: 'freshness',
  'not-approved': 'registration',
  'capability-not-granted': 'capability',
  'policy-expired': 'policy expiry',
  'token-budget-exhausted': 'token budget',
  'rate-limited': 'request rate',
  'revocation-list-stale': 'delegation',
  'delegation-missing': 'delegation',
  'delegation-invalid': 'delegation',
  'delegation-wrong-user': 'delegation',
  'delegation-wrong-agent': 'delegation',
  'delegation-capability': 'delegation',
  'delegation-expired': 'delegation',
  'delegation-revoked': 'delegation',
  'approval-rejected': 'approval',
  'approval-expired': 'approval',
  'approval-required': 'approval',
  'bad-params': 'params',
  'path-escape': 'workspace',
  'sandbox-unavailable': 'sandbox',
  'destination-refused': 'destination',
  'rule-denied': 'rules',
  'agent-offline': 'agent online',
  'agent-busy': 'agent online',
  'task-step-limit': 'task limits',
  'task-time-limit': 'task limits',
  'model-unavailable': 'model',
  'model-malformed-response': 'model',
  cancelled: 'cancel',
};

export const gateOf = (reason: RejectionReason): string => GATES[reason];
