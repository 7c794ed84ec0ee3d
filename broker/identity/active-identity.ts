import type { SecretIdentity } from '../../core/identity';
import type { BrokerAuthority } from '../../core/wire/authority';

/**
 * The broker's online id and its chain to the root, as one value that a
 * rotation replaces while the broker runs. Everything that signs (intents,
 * delegations, revocation lists, countersignatures, handshakes) reads it at
 * the moment it signs, never a copy taken at start.
 */
export class ActiveIdentity {
  #identity: SecretIdentity;
  #authority: BrokerAuthority | null;

  constructor(identity: SecretIdentity, authority: BrokerAuthority | null = null) {
    this.#identity = identity;
    this.#authority = authority;
  }

  get identity(): SecretIdentity {
    return this.#identity;
  }

  get authority(): BrokerAuthority | null {
    return this.#authority;
  }

  replace(identity: SecretIdentity, authority: BrokerAuthority | null): void {
    this.#identity = identity;
    this.#authority = authority;
  }
}
