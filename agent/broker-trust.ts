import type pino from 'pino';
import { learnFromChain, type LearntRevocations, type VerifiedChain } from '../core/authority/broker-chain';
import { acceptBroker, type BrokerAcceptance } from '../core/authority/broker-pin';
import type { VaultysId } from '../core/identity';
import type { BrokerAuthority } from '../core/wire/authority';
import type { AgentStateDir, PinRecord } from './state-dir';

/**
 * Which broker this agent trusts, and what it has learnt since it was
 * enrolled: its pin (a root, a broker DID, or trust on first use), the root's
 * revocations and the broker ids rotations replaced, all kept in the state
 * directory so that a restart forgets none of them.
 */
export class BrokerTrust {
  #pin: PinRecord;

  constructor(
    private readonly state: AgentStateDir,
    private readonly log: pino.Logger,
    private readonly clockSkewMs: number,
  ) {
    this.#pin = state.pin();
  }

  /** Before co-signing a handshake: the pin decides (core/authority/broker-pin.ts), with everything learnt so far. */
  check(broker: VaultysId, authority: BrokerAuthority | undefined): BrokerAcceptance {
    const pinned = this.#pin.brokerDid;
    const mismatch = (proved: string) => `broker proved ${proved}, but this agent is pinned to ${pinned ?? 'no broker'}`;
    if (pinned === null) return this.#pin.trustOnFirstUse ? { ok: true, chain: null, migrateTo: null } : { ok: false, message: mismatch(broker.did) };
    return acceptBroker(pinned, broker, authority, { now: Date.now(), clockSkewMs: this.clockSkewMs, learnt: this.#learnt(), mismatch });
  }

  /** The pin the handshake hello states, so the broker knows whether a pin migration report can be true. */
  get pinned(): string | null {
    return this.#pin.brokerDid;
  }

  #learnt(): LearntRevocations {
    return {
      revoked: new Map(Object.entries(this.#pin.revokedBrokers ?? {})),
      superseded: new Set(this.#pin.supersededBrokers ?? []),
      newest: new Map(Object.entries(this.#pin.newestCertificates ?? {})),
    };
  }

  /** Trust on first use: the first broker seen becomes the pin, loudly. */
  confirmFirstUse(broker: VaultysId): void {
    if (this.#pin.brokerDid !== null) return;
    this.#save({ brokerDid: broker.did, trustOnFirstUse: false, pinnedAt: Date.now() });
    this.log.warn(
      { event: 'pin.tofu', broker: broker.did, fingerprint: broker.fingerprint },
      'TRUST ON FIRST USE: pinned the broker that answered first; compare its fingerprint with the broker operator',
    );
  }

  /**
   * Persists, before co-signing, what a verified chain taught: the root's
   * revocations, the ids it superseded and its serial (all refused from now
   * on, whoever presents them: core/authority/broker-chain.ts learnFromChain),
   * and the move from a broker-id pin to the root.
   * Returns the root DID when this handshake migrated the pin.
   */
  learn(broker: VaultysId, chain: VerifiedChain | null, migrateTo: string | null): string | null {
    if (!chain) return null;
    const learnt = learnFromChain(this.#learnt(), chain);
    const migrate = migrateTo !== null && this.#pin.brokerDid === broker.did;
    if (!learnt && !migrate) return null;
    const superseded = learnt ? [...learnt.superseded] : (this.#pin.supersededBrokers ?? []);
    this.#save({
      ...this.#pin,
      ...(migrate ? { brokerDid: migrateTo, migratedFrom: broker.did, pinnedAt: Date.now() } : {}),
      ...(learnt
        ? { revokedBrokers: Object.fromEntries(learnt.revoked), supersededBrokers: superseded, newestCertificates: Object.fromEntries(learnt.newest) }
        : {}),
    });
    if (learnt) {
      this.log.info(
        { event: 'authority.learnt', revoked: [...learnt.revoked.keys()], superseded, serial: chain.certificate.serial },
        "recorded the root's revocations, superseded broker ids and newest certificate serial",
      );
    }
    if (!migrate) return null;
    this.log.warn({ event: 'pin.migrated', from: broker.did, root: migrateTo, serial: chain.certificate.serial }, 'this agent now pins the broker root instead of the broker id');
    return migrateTo;
  }

  #save(pin: PinRecord): void {
    this.#pin = pin;
    this.state.writePin(pin);
  }
}
