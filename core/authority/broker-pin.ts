import { IdType, VaultysId } from '../identity';
import type { BrokerAuthority } from '../wire/authority';
import { verifyBrokerChain, type LearntRevocations, type VerifiedChain } from './broker-chain';

/**
 * A broker root is an organization id and an online broker a machine id
 * (spec §2.5: the DID starts with the type byte), so one pin setting takes
 * either: the root's DID, or — for peers enrolled before roots existed — the
 * broker's own.
 */
export function isRootDid(did: string): boolean {
  return did.startsWith(`did:vaultys:0${IdType.Organization}`);
}

export type BrokerAcceptance =
  | { ok: true; chain: VerifiedChain | null; migrateTo: string | null }
  | { ok: false; message: string };

/**
 * Whether a broker that has just proven `broker` in a handshake is the one
 * `pin` designates. A root pin needs a valid chain. A broker-DID pin needs
 * that exact id; if that broker also presents a valid chain, its root is
 * offered as the pin to migrate to: the pinned broker vouches for its root in
 * metadata it co-signs, which is what makes the switch safe.
 */
export function acceptBroker(
  pin: string,
  broker: VaultysId,
  authority: BrokerAuthority | undefined,
  o: { now: number; clockSkewMs: number; learnt: LearntRevocations; mismatch: (proved: string) => string },
): BrokerAcceptance {
  if (isRootDid(pin)) {
    if (!authority) return { ok: false, message: `broker ${broker.did} presented no certificate from the pinned root ${pin}` };
    const chain = verifyBrokerChain(authority, { ...o, pinnedRoot: pin, broker });
    if (!chain.ok) return { ok: false, message: `${chain.reason}: ${chain.message}` };
    return { ok: true, chain: chain.value, migrateTo: null };
  }
  if (broker.did !== pin) return { ok: false, message: o.mismatch(broker.did) };
  if (!authority) return { ok: true, chain: null, migrateTo: null };
  const claimed = verifyBrokerChain(authority, { ...o, pinnedRoot: rootDidOf(authority), broker });
  return { ok: true, chain: claimed.ok ? claimed.value : null, migrateTo: claimed.ok ? claimed.value.root.did : null };
}

function rootDidOf(authority: BrokerAuthority): string {
  try {
    // Parsed for its DID only; verifyBrokerChain parses it again and refuses what does not hold.
    return VaultysId.fromBytes(authority.root).did;
  } catch {
    return '';
  }
}
