import type { Certificate } from './certificate';
import type { ChallengeMessage } from './messages';

/**
 * A Certificate from a COMPLETE message, for a side that has just checked or made both signatures itself: it
 * does not verify again, so it stays inside challenger/ (core/identity/index.ts does not export it); anything
 * from outside goes through verifyCertificate.
 */
export function assembleCertificate(message: ChallengeMessage, bytes: Uint8Array): Certificate {
  return {
    bytes,
    protocol: message.protocol,
    service: message.service,
    timestamp: message.timestamp,
    nonce: message.nonce,
    initiator: message.pk1,
    responder: message.pk2!,
    initiatorMetadata: message.metadata.pk1,
    responderMetadata: message.metadata.pk2,
  };
}
