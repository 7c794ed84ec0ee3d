import type { VaultysId } from '../vaultys-id';
import { DEFAULT_MAX_MESSAGE_BYTES, decodeChallenge, signedBytes, type ChallengeMessage } from './messages';
import { assembleCertificate } from './assembled-certificate';
import { reject, type HandshakeResult } from './rejections';

/**
 * A COMPLETE message whose two signatures hold. It proves that both ids signed
 * both metadata maps at about `timestamp`; it is a record, not proof of a live
 * session (spec §5.7): session freshness is the responder's job.
 */
export interface Certificate {
  bytes: Uint8Array;
  protocol: string;
  service: string;
  timestamp: number;
  nonce: Uint8Array;
  initiator: VaultysId;
  responder: VaultysId;
  initiatorMetadata: unknown;
  responderMetadata: unknown;
}

export interface VerifyCertificateOptions {
  maxMessageBytes?: number;
  /** When given, a certificate made for another protocol or service is refused. */
  protocol?: string;
  service?: string;
}

/** Checks the fields and both signatures of an already decoded COMPLETE message. */
export function certificateOf(message: ChallengeMessage, bytes: Uint8Array): HandshakeResult<Certificate> {
  if (message.state !== 'complete' || !message.pk2 || !message.sign1 || !message.sign2) {
    return reject('unexpected-message', `expected a COMPLETE certificate, got ${message.state.toUpperCase()}`);
  }
  if (message.pk1.sharesSigningKey(message.pk2)) return reject('self-handshake', 'pk1 and pk2 share their signing key');
  const u = signedBytes(message);
  if (!message.pk2.verifyChallenge(u, message.sign2)) {
    return reject('bad-responder-signature', 'sign2 does not verify with pk2');
  }
  if (!message.pk1.verifyChallenge(u, message.sign1)) {
    return reject('bad-initiator-signature', 'sign1 does not verify with pk1');
  }
  return { ok: true, value: assembleCertificate(message, bytes) };
}

/**
 * Verifies a certificate from outside: canonical bytes, version 1, exact
 * layout, both signatures over the canonical U. Never throws.
 */
export function verifyCertificate(bytes: unknown, options: VerifyCertificateOptions = {}): HandshakeResult<Certificate> {
  const decoded = decodeChallenge(bytes, options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
  if (!decoded.ok) return decoded;
  const m = decoded.value;
  if ((options.protocol !== undefined && m.protocol !== options.protocol) || (options.service !== undefined && m.service !== options.service)) {
    return reject('wrong-protocol', `certificate is for ${m.protocol}/${m.service}`);
  }
  // decodeChallenge has proven the bytes canonical, so the signatures below cover exactly these bytes' reading.
  return certificateOf(m, bytes as Uint8Array);
}
