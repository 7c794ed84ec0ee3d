// Attacks on ChallengeResponder (core/identity/challenger/responder.ts), one per way it must refuse: real keys, real signatures, messages forged
// byte by byte; each refusal asserted by its reason (spec §5.10 rules cited per block).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ChallengeMessage,
  encodeChallenge,
  type HandshakeRejection,
  IdType,
  verifyCertificate,
} from '../../../../core/identity';
import {
  attempt,
  countSignatures,
  craftedInit,
  decoded,
  expectOk,
  flipped,
  identityFrom,
  LIVENESS_MS,
  ManualClock,
  refusalOf,
  resigned,
  responderRefusal,
  runHonestHandshake,
  startInitiator,
  startResponder,
  T0,
  twinsOf,
  wireEntries,
  wireMap,
} from '../support/handshake';

describe('replay (spec §5.10 rule 6)', () => {
  test('a C3 delivered twice to the same responder session is refused as replay', () => {
    const run = runHonestHandshake();
    assert.equal(refusalOf(() => run.responder.complete(run.complete)), 'replay');
    assert.equal(run.responder.state, 'complete');
  });

  test("an old session's C3 sent to a new responder session is refused as session-mismatch", () => {
    const old = runHonestHandshake();
    const initiator = startInitiator({ clock: old.clock, initiatorIdentity: old.initiatorIdentity });
    const responder = startResponder({ clock: old.clock, responderIdentity: old.responderIdentity });
    expectOk(responder.accept(initiator.init));
    assert.equal(refusalOf(() => responder.complete(old.complete)), 'session-mismatch');
    assert.equal(responder.state, 'error');
  });

  test("replaying a recorded session's INIT and then its C3 to a new responder session is refused as session-mismatch", () => {
    const old = runHonestHandshake();
    const responder = startResponder({ clock: old.clock, responderIdentity: old.responderIdentity });
    // INIT is unsigned, so a recorded one is answered again; the fresh nonce half is what stops the replay.
    expectOk(responder.accept(old.init));
    assert.equal(refusalOf(() => responder.complete(old.complete)), 'session-mismatch');
  });
});

describe('self-handshake (spec §5.10 rule 4)', () => {
  test('an INIT from the responder’s own id is refused as self-handshake, before signing', () => {
    const responderIdentity = identityFrom(2, IdType.Person);
    const signed = countSignatures(responderIdentity);
    const responder = startResponder({ responderIdentity });
    const init = startInitiator({ initiatorIdentity: identityFrom(2, IdType.Person) }).init;
    assert.equal(refusalOf(() => responder.accept(init)), 'self-handshake');
    assert.equal(signed.count, 0);
  });

  for (const [how, twin] of twinsOf(identityFrom(2, IdType.Person).id)) {
    test(`Self-handshake: an INIT from the responder's own signing key under ${how} is refused as self-handshake, before signing`, () => {
      assert.notEqual(twin.did, identityFrom(2, IdType.Person).did, 'the twin is another id');
      assert.equal(responderRefusal(craftedInit({ pk1: twin })), 'self-handshake');
    });
  }
});

describe('INIT admission (spec §5.10 rules 4 and 5)', () => {
  test('an INIT for another protocol or service is refused as wrong-protocol, before signing', () => {
    assert.equal(responderRefusal(startInitiator({ initiator: { protocol: 'vaultys.wot' } }).init), 'wrong-protocol');
    assert.equal(responderRefusal(startInitiator({ initiator: { service: 'admin' } }).init), 'wrong-protocol');
  });

  test('an INIT with metadata.pk2 already set is refused as metadata-preset, before signing', () => {
    const pk1 = identityFrom(1).id;
    assert.equal(responderRefusal(craftedInit({ pk1, metadata: { pk2: { grant: ['*'] } } })), 'metadata-preset');
    assert.equal(responderRefusal(craftedInit({ pk1, metadata: { pk1: 'me', pk2: { grant: ['*'] } } })), 'metadata-preset');
  });

  test('an INIT without metadata is refused as bad-schema', () => {
    const init = wireMap(wireEntries(startInitiator().init).filter(([k]) => k !== 'metadata'));
    assert.equal(responderRefusal(init), 'bad-schema');
  });

  test('an INIT exactly one liveness window old is refused as stale, one millisecond younger is answered', () => {
    const init = startInitiator({ clock: new ManualClock(T0) }).init;
    const late = new ManualClock(T0 + LIVENESS_MS);
    const lateResponder = startResponder({ clock: late });
    assert.equal(refusalOf(() => lateResponder.accept(init)), 'stale');
    expectOk(startResponder({ clock: new ManualClock(T0 + LIVENESS_MS - 1) }).accept(init));
  });

  test('an INIT dated one liveness window in the future is refused as stale', () => {
    const init = startInitiator({ clock: new ManualClock(T0 + LIVENESS_MS) }).init;
    assert.equal(refusalOf(() => startResponder({ clock: new ManualClock(T0) }).accept(init)), 'stale');
  });

  test('a C3 arriving after the window is refused as stale by the responder', () => {
    const clock = new ManualClock(T0);
    const initiator = startInitiator({ clock });
    const responder = startResponder({ clock });
    const { step1 } = expectOk(responder.accept(initiator.init));
    const { complete } = expectOk(initiator.respond(step1));
    clock.time = T0 + LIVENESS_MS;
    assert.equal(refusalOf(() => responder.complete(complete)), 'stale');
  });
});

describe('signatures', () => {
  test('a C3 with a tampered sign1 is refused as bad-initiator-signature', () => {
    const clock = new ManualClock();
    const initiator = startInitiator({ clock });
    const responder = startResponder({ clock });
    const { step1 } = expectOk(responder.accept(initiator.init));
    const { complete } = expectOk(initiator.respond(step1));
    const m = decoded(complete);
    const tampered = encodeChallenge({ ...m, sign1: flipped(m.sign1!, 63, 0x80) });
    assert.equal(refusalOf(() => responder.complete(tampered)), 'bad-initiator-signature');
    assert.equal(refusalOf(() => verifyCertificate(tampered)), 'bad-initiator-signature');
  });

  const policy = { capabilities: ['fs.read'], resourceLimits: { cpu: 1 } };
  const escalated = { capabilities: ['*'], resourceLimits: { cpu: 64 } };

  test('a C3 whose metadata.pk2 (the policy) was rewritten is refused as metadata-rewritten; as a certificate it fails sign2', () => {
    const clock = new ManualClock();
    const initiator = startInitiator({ clock, initiatorMetadata: { agent: 'a1' } });
    const responder = startResponder({ clock, responderMetadata: policy });
    const { step1 } = expectOk(responder.accept(initiator.init));
    const { complete } = expectOk(initiator.respond(step1));
    const m = decoded(complete);
    const rewritten = encodeChallenge({ ...m, metadata: { pk1: m.metadata.pk1, pk2: escalated } });
    assert.equal(refusalOf(() => responder.complete(rewritten)), 'metadata-rewritten');
    assert.equal(refusalOf(() => verifyCertificate(rewritten)), 'bad-responder-signature');
  });

  test('the upstream v0 hole stays closed: an initiator that rewrites the policy and re-signs sign1 still fails sign2', () => {
    const initiatorIdentity = identityFrom(1);
    const clock = new ManualClock();
    const initiator = startInitiator({ clock, initiatorIdentity });
    const responder = startResponder({ clock, responderMetadata: policy });
    const { step1 } = expectOk(responder.accept(initiator.init));
    const { complete } = expectOk(initiator.respond(step1));
    const m = decoded(complete);
    const forged = encodeChallenge(resigned({ ...m, metadata: { pk2: escalated } }, initiatorIdentity, 'sign1'));
    assert.equal(refusalOf(() => responder.complete(forged)), 'metadata-rewritten');
    assert.equal(refusalOf(() => verifyCertificate(forged)), 'bad-responder-signature');
  });

  describe('a C3 changed by the initiator (which holds key pk1 and re-signs sign1)', () => {
    const cases: [string, (m: ChallengeMessage) => ChallengeMessage, HandshakeRejection][] = [
      ['for another service', (m) => ({ ...m, service: 'admin' }), 'wrong-protocol'],
      ['with another timestamp', (m) => ({ ...m, timestamp: m.timestamp + 1 }), 'timestamp-mismatch'],
      ['naming another responder', (m) => ({ ...m, pk2: identityFrom(3).id }), 'peer-mismatch'],
      ['with another nonce half', (m) => ({ ...m, nonce: flipped(m.nonce, 31, 0x01) }), 'session-mismatch'],
      ['with a sign2 of its own making', (m) => resigned(m, identityFrom(3), 'sign2'), 'bad-responder-signature'],
    ];
    for (const [name, change, reason] of cases) {
      test(`${name} is refused as ${reason}`, () => {
        const initiatorIdentity = identityFrom(1);
        const clock = new ManualClock();
        const initiator = startInitiator({ clock, initiatorIdentity });
        const responder = startResponder({ clock, responderMetadata: policy });
        const { step1 } = expectOk(responder.accept(initiator.init));
        const { complete } = expectOk(initiator.respond(step1));
        const forged = encodeChallenge(resigned(change(decoded(complete)), initiatorIdentity, 'sign1'));
        assert.equal(refusalOf(() => responder.complete(forged)), reason);
      });
    }
  });
});

describe('application refusals happen before signing (spec §5.10 rule 4)', () => {
  test('a responder whose admit() refuses returns peer-refused, no STEP1, and signs nothing', () => {
    const responderIdentity = identityFrom(2, IdType.Person);
    const signed = countSignatures(responderIdentity);
    let nonces = 0;
    const seen: string[] = [];
    const responder = startResponder({
      responderIdentity,
      responder: {
        admit: (initiator) => {
          seen.push(initiator.did);
          return { ok: false, message: 'not on the allow-list' };
        },
        randomNonce: () => {
          nonces += 1;
          return new Uint8Array(16);
        },
      },
    });
    const initiator = startInitiator();
    const result = attempt(() => responder.accept(initiator.init));
    assert.equal(result.ok ? 'accepted' : result.reason, 'peer-refused');
    assert.ok(!('value' in result), 'a refusal carries no STEP1');
    assert.deepEqual(seen, [decoded(initiator.init).pk1.did], 'admit() saw the initiator');
    assert.equal(signed.count, 0);
    assert.equal(nonces, 0);
    assert.equal(responder.state, 'error');
    assert.equal(refusalOf(() => responder.complete(new Uint8Array(1))), 'out-of-order');
  });
});

describe('messages out of place', () => {
  test('a STEP1 given to a responder is refused as unexpected-message', () => {
    const run = runHonestHandshake();
    assert.equal(refusalOf(() => startResponder().accept(run.step1)), 'unexpected-message');
  });

  test('a C3 before any INIT is refused as out-of-order', () => {
    const run = runHonestHandshake();
    assert.equal(refusalOf(() => startResponder().complete(run.complete)), 'out-of-order');
  });
});
