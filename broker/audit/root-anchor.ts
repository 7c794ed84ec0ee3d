import { open, VaultysId, type SealedEnvelope } from '../../core/identity';
import { BrokerCertificateBody, BrokerRevocationBody } from '../../core/wire/authority';

/**
 * What anchors an audit log to the organisation's offline root rather than to
 * whatever key signed it: the root's DID, the root's id once known (from a
 * broker-authority.json, or from a hand-over record whose root has that DID),
 * and every certificate and revocation the root signed that the verifier was
 * given. Certificates and revocations that do not verify with the root are
 * ignored: they prove nothing, and a log's hand-over then stands unanchored.
 */
export class RootAnchor {
  #root: VaultysId | null = null;
  readonly #certificates: BrokerCertificateBody[] = [];
  readonly #revocations: BrokerRevocationBody[] = [];
  readonly #pending: { certificates: SealedEnvelope[]; revocations: SealedEnvelope[] } = { certificates: [], revocations: [] };

  constructor(
    readonly rootDid: string,
    readonly now: number,
  ) {}

  get root(): VaultysId | null {
    return this.#root;
  }

  /** The root's id, if its DID is the anchored one (taken once; later offers must match). */
  offerRoot(id: VaultysId): boolean {
    if (id.did !== this.rootDid) return false;
    if (this.#root) return true;
    this.#root = id;
    for (const c of this.#pending.certificates.splice(0)) this.addCertificate(c);
    for (const r of this.#pending.revocations.splice(0)) this.addRevocation(r);
    return true;
  }

  /** A root certificate of a broker id; returns its body if it verifies with the root. */
  addCertificate(envelope: SealedEnvelope): BrokerCertificateBody | null {
    if (!this.#root) {
      this.#pending.certificates.push(envelope);
      return null;
    }
    const opened = open(this.#root, 'vaultysclaw/broker-certificate/v1', envelope);
    const body = opened.ok ? BrokerCertificateBody.safeParse(opened.body) : undefined;
    if (!body?.success || body.data.root !== this.rootDid) return null;
    this.#certificates.push(body.data);
    return body.data;
  }

  addRevocation(envelope: SealedEnvelope): void {
    if (!this.#root) {
      this.#pending.revocations.push(envelope);
      return;
    }
    const opened = open(this.#root, 'vaultysclaw/broker-revocation/v1', envelope);
    const body = opened.ok ? BrokerRevocationBody.safeParse(opened.body) : undefined;
    if (body?.success && body.data.root === this.rootDid) this.#revocations.push(body.data);
  }

  /** A root certificate that hands `from`'s place to `to`. */
  certifiesHandOver(from: string, to: string): BrokerCertificateBody | null {
    return this.#certificates.find((c) => c.supersedes?.did === from && didOf(c.broker) === to) ?? null;
  }

  /** When the root revoked `did`, or null. */
  revokedAt(did: string): number | null {
    const times = this.#revocations.filter((r) => r.broker === did).map((r) => r.revokedAt);
    return times.length > 0 ? Math.min(...times) : null;
  }

  /**
   * The id the root currently certifies: its newest certificate (highest
   * serial), if in its validity period and not revoked; otherwise why not.
   */
  current(): { ok: true; did: string; serial: number } | { ok: false; detail: string } {
    if (!this.#root) return { ok: false, detail: `the root ${this.rootDid}'s id is unknown: give its broker-authority.json` };
    const newest = [...this.#certificates].sort((a, b) => b.serial - a.serial)[0];
    if (!newest) return { ok: false, detail: `no certificate of root ${this.rootDid} verifies` };
    const did = didOf(newest.broker);
    if (!(newest.expiresAt > this.now)) return { ok: false, detail: `the root's newest certificate (serial ${newest.serial}, for ${did}) has expired` };
    if (this.revokedAt(did) !== null) return { ok: false, detail: `the root's newest certificate (serial ${newest.serial}) is for ${did}, which the root revoked` };
    return { ok: true, did, serial: newest.serial };
  }
}

function didOf(bytes: Uint8Array): string {
  try {
    return VaultysId.fromBytes(bytes).did;
  } catch {
    return '';
  }
}
