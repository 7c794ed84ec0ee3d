import { certifyBroker } from '../../../../core/authority/broker-chain';
import { IdType, SecretIdentity, type SealedEnvelope } from '../../../../core/identity';
import type { BrokerAuthority } from '../../../../core/wire/authority';

/** A root, another root, and two online broker ids (the second a rotation's successor), at a fixed time. */
export const NOW = Date.UTC(2026, 6, 1, 12, 0, 0);
export const DAY = 24 * 60 * 60_000;
export const root = SecretIdentity.generate(IdType.Organization);
export const otherRoot = SecretIdentity.generate(IdType.Organization);
export const broker = SecretIdentity.generate(IdType.Machine);
export const successor = SecretIdentity.generate(IdType.Machine);

/** The authority a broker presents: a certificate from `by` (the root) for `for` (the broker), with the revocations given. */
export function authority(o: { by?: SecretIdentity; rootId?: SecretIdentity; for?: SecretIdentity; issuedAt?: number; expiresAt?: number; revocations?: SealedEnvelope[]; supersedes?: SecretIdentity; graceUntil?: number } = {}): BrokerAuthority {
  const signer = o.by ?? root;
  return {
    root: (o.rootId ?? signer).id.bytes,
    certificate: certifyBroker(signer, {
      serial: 1,
      broker: (o.for ?? broker).id,
      issuedAt: o.issuedAt ?? NOW - DAY,
      expiresAt: o.expiresAt ?? NOW + DAY,
      supersedes: o.supersedes ? { id: o.supersedes.id, delegationsValidUntil: o.graceUntil ?? NOW } : null,
    }),
    revocations: o.revocations ?? [],
  };
}
