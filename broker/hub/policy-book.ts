import type { RegistrationStatus } from '../../core/wire/hub-messages';
import type { CertifiedPolicy } from '../../core/wire/policy';

/**
 * Composes the policy the broker certifies for an agent at each handshake.
 * An agent that is not approved is certified with nothing: no capability,
 * zero limits, so it can hold a connection but run no tool.
 */
export class PolicyBook {
  constructor(private readonly now: () => number = Date.now) {}

  policyFor(did: string, status: RegistrationStatus): CertifiedPolicy {
    return {
      status,
      policyId: `none:${did}`,
      policyVersion: 0,
      capabilities: [],
      approvalRequired: [],
      maxTokensPerDay: 0,
      maxRequestsPerHour: 0,
      policyExpiresAt: this.now(),
    };
  }
}
