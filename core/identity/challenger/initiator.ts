import { bytesEqual, canonicalEncode, signableProblem } from '../encoding';
import type { VaultysId } from '../vaultys-id';
import { assembleCertificate } from './assembled-certificate';
import type { Certificate } from './certificate';
import { decodeChallenge, encodeChallenge, isLive, signedBytes, type ChallengeMessage } from './messages';
import { resolveSide, type HandshakeSideOptions, type PeerDecision } from './options';
import { reject, type HandshakeResult } from './rejections';

export interface InitiatorOptions extends HandshakeSideOptions {
  /** This side's metadata (metadata.pk1). Absent means none. */
  metadata?: unknown;
  /**
   * Decides, once the responder has proven its key and before we co-sign,
   * whether this responder and the metadata it wrote are acceptable
   * (the agent pins the broker here and validates its policy).
   */
  acceptResponder: (responder: VaultysId, responderMetadata: unknown) => PeerDecision<void>;
}

type InitiatorState = 'init' | 'complete' | 'error';

/**
 * The initiator side of Challenger v1. It exists only with the INIT it made,
 * so it can never be used as a signing oracle for a STEP1 it did not start
 * (spec §5.10 rule 1).
 */
export class ChallengeInitiator {
  readonly init: Uint8Array;
  #state: InitiatorState = 'init';
  readonly #options: ReturnType<typeof resolveSide>;
  readonly #accept: InitiatorOptions['acceptResponder'];
  readonly #sent: ChallengeMessage;
  readonly #sentMetadata: Uint8Array | null;

  constructor(options: InitiatorOptions) {
    this.#options = resolveSide(options);
    this.#accept = options.acceptResponder;
    const metadata: Record<string, unknown> = {};
    if (options.metadata !== undefined) {
      const problem = signableProblem(options.metadata, 'metadata.pk1');
      if (problem) throw new TypeError(`cannot start a handshake: ${problem}`);
      metadata.pk1 = options.metadata;
    }
    const nonce = this.#options.randomNonce();
    if (nonce.length !== 16) throw new RangeError('the initiator nonce must be 16 bytes');
    this.#sent = {
      state: 'init',
      protocol: this.#options.protocol,
      service: this.#options.service,
      timestamp: this.#options.now(),
      pk1: this.#options.identity.id,
      nonce,
      metadata,
    };
    this.#sentMetadata = 'pk1' in metadata ? canonicalEncode(metadata.pk1) : null;
    this.init = encodeChallenge(this.#sent);
  }

  get state(): InitiatorState {
    return this.#state;
  }

  /** Takes STEP1, returns COMPLETE (to send) and the verified certificate. Never throws. */
  respond(step1: unknown): HandshakeResult<{ complete: Uint8Array; certificate: Certificate }> {
    if (this.#state !== 'init') {
      return reject(this.#state === 'complete' ? 'replay' : 'out-of-order', `this handshake is already ${this.#state}`);
    }
    const result = this.#respond(step1);
    this.#state = result.ok ? 'complete' : 'error';
    return result;
  }

  #respond(step1: unknown): HandshakeResult<{ complete: Uint8Array; certificate: Certificate }> {
    const decoded = decodeChallenge(step1, this.#options.maxMessageBytes);
    if (!decoded.ok) return decoded;
    const m = decoded.value;
    const sent = this.#sent;
    if (m.state !== 'step1') return reject('unexpected-message', `expected STEP1, got ${m.state.toUpperCase()}`);
    if (m.protocol !== sent.protocol || m.service !== sent.service) {
      return reject('wrong-protocol', `responder answered for ${m.protocol}/${m.service}`);
    }
    if (!bytesEqual(m.nonce.subarray(0, 16), sent.nonce)) {
      return reject('unsolicited', 'STEP1 does not answer the INIT this side sent (nonce differs)');
    }
    if (m.timestamp !== sent.timestamp) return reject('timestamp-mismatch', 'STEP1 carries another timestamp than our INIT');
    if (!m.pk1.equals(sent.pk1)) return reject('peer-mismatch', 'STEP1 names another initiator');
    // Rule 2: we co-sign only the metadata we sent, byte for byte.
    const echoed = 'pk1' in m.metadata ? canonicalEncode(m.metadata.pk1) : null;
    if ((echoed === null) !== (this.#sentMetadata === null) || (echoed && this.#sentMetadata && !bytesEqual(echoed, this.#sentMetadata))) {
      return reject('metadata-rewritten', 'the responder changed metadata.pk1');
    }
    const responder = m.pk2!;
    if (responder.sharesSigningKey(sent.pk1)) return reject('self-handshake', 'the responder presented our own signing key');
    if (!isLive(m.timestamp, this.#options.now(), this.#options.livenessMs)) {
      return reject('stale', 'STEP1 arrived outside the liveness window');
    }
    const u = signedBytes(m);
    if (!responder.verifyChallenge(u, m.sign2!)) return reject('bad-responder-signature', 'sign2 does not verify with pk2');
    const decision = this.#accept(responder, m.metadata.pk2);
    if (!decision.ok) return reject('peer-refused', decision.message);

    const completed: ChallengeMessage = { ...m, state: 'complete', sign1: this.#options.identity.signChallenge(u) };
    const complete = encodeChallenge(completed);
    return { ok: true, value: { complete, certificate: assembleCertificate(completed, complete) } };
  }
}
