import { bytesEqual, canonicalEncode, signableProblem } from '../encoding';
import type { VaultysId } from '../vaultys-id';
import { assembleCertificate } from './assembled-certificate';
import type { Certificate } from './certificate';
import { decodeChallenge, encodeChallenge, isLive, signedBytes, type ChallengeMessage } from './messages';
import { resolveSide, type HandshakeSideOptions, type PeerDecision } from './options';
import { reject, type HandshakeResult } from './rejections';

export interface ResponderOptions extends HandshakeSideOptions {
  /**
   * Decides, after INIT is validated and before this side signs anything,
   * whether to talk to this initiator, and returns this side's metadata
   * (metadata.pk2: the broker puts the agent's policy here). Spec §5.10 rule 4:
   * pinning and allow-lists apply before signing.
   */
  admit: (initiator: VaultysId, initiatorMetadata: unknown) => PeerDecision<{ metadata?: unknown }> | Promise<PeerDecision<{ metadata?: unknown }>>;
}

/** `admitting`: acceptAsync awaits the admit decision; no other INIT is taken meanwhile. */
type ResponderState = 'waiting' | 'admitting' | 'step1' | 'complete' | 'error';

export interface AcceptedInit {
  step1: Uint8Array;
  initiator: VaultysId;
  initiatorMetadata: unknown;
}

/**
 * The responder side of Challenger v1, one instance per session. Its nonce half
 * is held here and C3 is accepted once, so a certificate from any other
 * session (or the same one, twice) is refused (spec §5.10 rule 6).
 */
export class ChallengeResponder {
  #state: ResponderState = 'waiting';
  readonly #options: ReturnType<typeof resolveSide>;
  readonly #admit: ResponderOptions['admit'];
  #sent?: ChallengeMessage;
  #sentMetadata?: Uint8Array;

  constructor(options: ResponderOptions) {
    this.#options = resolveSide(options);
    this.#admit = options.admit;
  }

  get state(): ResponderState {
    return this.#state;
  }

  /** Takes INIT, returns STEP1, for a synchronous admit. Never throws. */
  accept(init: unknown): HandshakeResult<AcceptedInit> {
    if (this.#state !== 'waiting') return reject('out-of-order', `this session is already past INIT (${this.#state})`);
    const checked = this.#check(init);
    const decision = checked.ok ? this.#admit(checked.value.pk1, checked.value.metadata.pk1) : undefined;
    // A promise here is a caller's mistake (an admit that reads storage): refused, never signed on an undecided peer.
    const result = !checked.ok ? checked : decision instanceof Promise ? reject('peer-refused', 'admit is asynchronous: use acceptAsync') : this.#sign(checked.value, decision!);
    this.#state = result.ok ? 'step1' : 'error';
    return result;
  }

  /** Takes INIT, returns STEP1, awaiting an admit that reads storage (the broker's). Rejects only when admit does. */
  async acceptAsync(init: unknown): Promise<HandshakeResult<AcceptedInit>> {
    if (this.#state !== 'waiting') return reject('out-of-order', `this session is already past INIT (${this.#state})`);
    this.#state = 'admitting';
    let result: HandshakeResult<AcceptedInit>;
    try {
      const checked = this.#check(init);
      result = checked.ok ? this.#sign(checked.value, await this.#admit(checked.value.pk1, checked.value.metadata.pk1)) : checked;
    } catch (err) {
      this.#state = 'error';
      throw err;
    }
    this.#state = result.ok ? 'step1' : 'error';
    return result;
  }

  /** Takes COMPLETE, returns the certificate of this session. Never throws. */
  complete(c3: unknown): HandshakeResult<Certificate> {
    if (this.#state !== 'step1') {
      return reject(this.#state === 'complete' ? 'replay' : 'out-of-order', `cannot take COMPLETE in state ${this.#state}`);
    }
    const result = this.#complete(c3);
    this.#state = result.ok ? 'complete' : 'error';
    return result;
  }

  /** INIT decoded and checked, before anyone decides on its initiator. */
  #check(init: unknown): HandshakeResult<ChallengeMessage> {
    const o = this.#options;
    const decoded = decodeChallenge(init, o.maxMessageBytes);
    if (!decoded.ok) return decoded;
    const m = decoded.value;
    if (m.state !== 'init') return reject('unexpected-message', `expected INIT, got ${m.state.toUpperCase()}`);
    if (m.protocol !== o.protocol || m.service !== o.service) {
      return reject('wrong-protocol', `this side answers ${o.protocol}/${o.service}, not ${m.protocol}/${m.service}`);
    }
    if (m.pk1.sharesSigningKey(o.identity.id)) return reject('self-handshake', 'INIT comes from our own signing key');
    if ('pk2' in m.metadata) return reject('metadata-preset', 'metadata.pk2 is already set in INIT');
    if (!isLive(m.timestamp, o.now(), o.livenessMs)) return reject('stale', 'INIT is outside the liveness window');
    return { ok: true, value: m };
  }

  #sign(m: ChallengeMessage, decision: PeerDecision<{ metadata?: unknown }>): HandshakeResult<AcceptedInit> {
    const o = this.#options;
    if (!decision.ok) return reject('peer-refused', decision.message);

    const metadata: Record<string, unknown> = { ...m.metadata };
    if (decision.value.metadata !== undefined) {
      const problem = signableProblem(decision.value.metadata, 'metadata.pk2');
      if (problem) return reject('bad-metadata', `our own metadata cannot be signed: ${problem}`);
      metadata.pk2 = decision.value.metadata;
    }
    const nonce2 = o.randomNonce();
    if (nonce2.length !== 16) throw new RangeError('the responder nonce must be 16 bytes');
    const step: ChallengeMessage = {
      ...m,
      state: 'step1',
      pk2: o.identity.id,
      nonce: new Uint8Array(Buffer.concat([m.nonce, nonce2])),
      metadata,
    };
    step.sign2 = o.identity.signChallenge(signedBytes(step));
    this.#sent = step;
    this.#sentMetadata = canonicalEncode(metadata);
    return { ok: true, value: { step1: encodeChallenge(step), initiator: m.pk1, initiatorMetadata: m.metadata.pk1 } };
  }

  #complete(c3: unknown): HandshakeResult<Certificate> {
    const o = this.#options;
    const sent = this.#sent!;
    const decoded = decodeChallenge(c3, o.maxMessageBytes);
    if (!decoded.ok) return decoded;
    const m = decoded.value;
    if (m.state !== 'complete') return reject('unexpected-message', `expected COMPLETE, got ${m.state.toUpperCase()}`);
    if (!bytesEqual(m.nonce, sent.nonce)) return reject('session-mismatch', 'COMPLETE belongs to another session (nonce differs)');
    if (m.protocol !== sent.protocol || m.service !== sent.service) return reject('wrong-protocol', 'COMPLETE changed protocol or service');
    if (m.timestamp !== sent.timestamp) return reject('timestamp-mismatch', 'COMPLETE carries another timestamp');
    if (!m.pk1.equals(sent.pk1) || !m.pk2!.equals(sent.pk2!)) return reject('peer-mismatch', 'COMPLETE names other parties');
    if (!bytesEqual(canonicalEncode(m.metadata), this.#sentMetadata!)) {
      return reject('metadata-rewritten', 'COMPLETE carries other metadata than we signed');
    }
    if (!bytesEqual(m.sign2!, sent.sign2!)) return reject('bad-responder-signature', 'COMPLETE carries another sign2 than ours');
    if (!isLive(m.timestamp, o.now(), o.livenessMs)) return reject('stale', 'COMPLETE arrived outside the liveness window');
    if (!m.pk1.verifyChallenge(signedBytes(m), m.sign1!)) {
      return reject('bad-initiator-signature', 'sign1 does not verify with pk1');
    }
    return { ok: true, value: assembleCertificate(m, c3 as Uint8Array) };
  }
}
