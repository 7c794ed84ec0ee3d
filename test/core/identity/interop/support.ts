import assert from 'node:assert/strict';
import {
  ChallengeInitiator,
  ChallengeResponder,
  IdentityError,
  IdType,
  SecretIdentity,
  type Certificate,
  type HandshakeRejection,
  type HandshakeResult,
  type IdentityErrorCode,
} from '../../../../core/identity';
import { unhex } from '../../../support/interop';

export const utf8 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'));

/** The type byte that starts every id and secret (spec §2.1); only the Ed25519 types 0–2 derive. */
export function idTypeOf(idOrSecret: Uint8Array): IdType {
  const type = idOrSecret[0];
  assert.ok(type === IdType.Machine || type === IdType.Person || type === IdType.Organization, `type byte ${type} is not 0, 1 or 2`);
  return type;
}

/** Spec §3.1: keys come from SHA-512(entropy); the type is not part of the entropy. */
export function identityFromEntropy(entropyHex: string, type: IdType): SecretIdentity {
  return SecretIdentity.fromEntropy(type, unhex(entropyHex));
}

/** Asserts a clean refusal: an IdentityError with this code (never a TypeError, RangeError or crash). */
export function assertIdentityError(fn: () => unknown, code: IdentityErrorCode, message?: RegExp): IdentityError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  assert.ok(thrown !== undefined, `expected an IdentityError with code ${code}, but nothing was thrown`);
  assert.ok(thrown instanceof IdentityError, `expected an IdentityError, got ${String(thrown)}`);
  assert.equal(thrown.code, code, `wrong code (message: ${thrown.message})`);
  if (message) assert.match(thrown.message, message);
  return thrown;
}

/** Asserts a handshake refusal with a reason and a message, and optionally which reason. */
export function assertRejected<T>(result: HandshakeResult<T>, reason?: HandshakeRejection, what = 'message'): void {
  assert.equal(result.ok, false, `expected ${what} to be refused, it was accepted`);
  if (result.ok) return;
  assert.equal(typeof result.reason, 'string');
  assert.ok(result.message.length > 0, `the refusal of ${what} must say why`);
  if (reason !== undefined) assert.equal(result.reason, reason, `${what}: wrong reason (message: ${result.message})`);
}

/** Unwraps an accepted handshake step, failing with the refusal reason otherwise. */
export function assertAccepted<T>(result: HandshakeResult<T>, what: string): T {
  if (!result.ok) assert.fail(`${what} was refused: ${result.reason}: ${result.message}`);
  return result.value;
}

export interface HandshakeScript {
  initiator: SecretIdentity;
  responder: SecretIdentity;
  protocol: string;
  service: string;
  /** The initiator's INIT clock; both sides' clocks stand still at it (so the run is live). */
  timestamp: number;
  /** nonce[0:16], drawn by the initiator. */
  initiatorNonce: Uint8Array;
  /** nonce[16:32], drawn by the responder. */
  responderNonce: Uint8Array;
  /** metadata.pk1 / metadata.pk2; undefined means the side sends none. */
  initiatorMetadata?: unknown;
  responderMetadata?: unknown;
}

export interface HandshakeRun {
  init: Uint8Array;
  step1: Uint8Array;
  complete: Uint8Array;
  initiatorCertificate: Certificate;
  responderCertificate: Certificate;
}

/**
 * Runs our ChallengeInitiator and ChallengeResponder with a frozen clock and
 * recorded nonces. Ed25519 is deterministic, so the three messages must come
 * out byte for byte as recorded by the other implementation.
 */
export function runHandshake(s: HandshakeScript): HandshakeRun {
  const now = () => s.timestamp;
  const initiator = new ChallengeInitiator({
    identity: s.initiator,
    protocol: s.protocol,
    service: s.service,
    now,
    randomNonce: () => s.initiatorNonce,
    ...(s.initiatorMetadata === undefined ? {} : { metadata: s.initiatorMetadata }),
    acceptResponder: () => ({ ok: true, value: undefined }),
  });
  const responder = new ChallengeResponder({
    identity: s.responder,
    protocol: s.protocol,
    service: s.service,
    now,
    randomNonce: () => s.responderNonce,
    admit: () => ({ ok: true, value: s.responderMetadata === undefined ? {} : { metadata: s.responderMetadata } }),
  });
  const { step1 } = assertAccepted(responder.accept(initiator.init), 'INIT');
  const { complete, certificate: initiatorCertificate } = assertAccepted(initiator.respond(step1), 'STEP1');
  const responderCertificate = assertAccepted(responder.complete(complete), 'COMPLETE');
  return { init: initiator.init, step1, complete, initiatorCertificate, responderCertificate };
}

/** Memoizes a computation shared by several tests of one file (runs on first use, inside a test). */
export function once<T>(compute: () => T): () => T {
  let cached: { value: T } | undefined;
  return () => (cached ??= { value: compute() }).value;
}
