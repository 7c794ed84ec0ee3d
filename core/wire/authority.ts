import { z } from 'zod';
import { BUDGETS } from '../budgets';
import { Bytes, Did, Envelope, EpochMs } from './common';

const IdBytes = Bytes.refine((b) => b.length === 77, { message: 'must be a 77-byte VaultysId' });

/**
 * The offline root's statement that an online broker id speaks for it
 * (ctx vaultysclaw/broker-certificate/v1). Agents and users who pin the root
 * accept whichever broker id the root currently certifies.
 */
export const BrokerCertificateBody = z.strictObject({
  /** Grows by one at every rotation, so operators and logs can tell certificates apart. */
  serial: z.number().int().positive(),
  root: Did,
  /** The certified online id, whole: a DID alone would not let a verifier check the broker's signatures. */
  broker: IdBytes,
  issuedAt: EpochMs,
  expiresAt: EpochMs,
  /**
   * The online id this one replaces. A verifier that has seen this certificate
   * refuses the old id as a broker from then on (no downgrade), and accepts
   * delegation certificates it signed only until `delegationsValidUntil`.
   */
  supersedes: z.strictObject({ did: Did, id: IdBytes, delegationsValidUntil: EpochMs }).nullable(),
});
export type BrokerCertificateBody = z.infer<typeof BrokerCertificateBody>;

/** The root's revocation of an online broker id (ctx vaultysclaw/broker-revocation/v1): refused at once, whatever it certifies. */
export const BrokerRevocationBody = z.strictObject({
  root: Did,
  broker: Did,
  reason: z.string().min(1).max(500),
  revokedAt: EpochMs,
});
export type BrokerRevocationBody = z.infer<typeof BrokerRevocationBody>;

/** `broker identity --json`: the online id, and the root peers should pin when there is one. */
export const BrokerIdentitySummary = z.strictObject({
  did: Did,
  fingerprint: z.string(),
  root: z.strictObject({ did: Did, fingerprint: z.string() }).nullable(),
  certificate: z.strictObject({ serial: z.number().int(), expiresAt: z.string() }).nullable(),
});
export type BrokerIdentitySummary = z.infer<typeof BrokerIdentitySummary>;

/** Each revocation is ~0.3 KB in the handshake metadata, which must stay well under the 64 KiB message cap. */
export const MAX_BROKER_REVOCATIONS = BUDGETS.brokerRevocations.limit;

/**
 * What a broker presents in its handshake metadata so that a peer pinning the
 * root can verify it offline: the root's id, the root's certificate of this
 * broker, and every revocation the root has signed (relayed by any certified broker).
 */
export const BrokerAuthority = z.strictObject({
  root: IdBytes,
  certificate: Envelope,
  revocations: z.array(Envelope).max(MAX_BROKER_REVOCATIONS),
});
export type BrokerAuthority = z.infer<typeof BrokerAuthority>;
