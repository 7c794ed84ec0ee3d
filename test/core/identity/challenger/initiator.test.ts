// Attacks on ChallengeInitiator (core/identity/challenger/initiator.ts), one per way it must refuse: real keys, real signatures, messages forged
// byte by byte; each refusal asserted by its reason (spec §5.10 rules cited per block).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ChallengeMessage,
  encodeChallenge,
  IdType,
  signedBytes,
} from '../../../../core/identity';
import {
  countSignatures,
  craftedInit,
  decoded,
  expectOk,
  flipped,
  forgedStep1,
  identityFrom,
  LIVENESS_MS,
  ManualClock,
  pinnedTo,
  refusalOf,
  runHonestHandshake,
  startInitiator,
  startResponder,
  T0,
  twinsOf,
  withPk1,
} from '../support/handshake';

describe('replay (spec §5.10 rule 6)', () => {
  test('a STEP1 delivered twice to the same initiator is refused as replay, and sign1 is not made again', () => {
    const initiatorIdentity = identityFrom(1);
    const run = runHonestHandshake({ initiatorIdentity });
    const signed = countSignatures(initiatorIdentity);
    assert.equal(refusalOf(() => run.initiator.respond(run.step1)), 'replay');
    assert.equal(signed.count, 0);
  });
});

describe('signing oracle (spec §5.10 rule 1)', () => {
  test('a STEP1 answering an INIT the attacker made in the victim’s name is refused as unsolicited, and the victim signs nothing', () => {
    const victim = identityFrom(1);
    const signed = countSignatures(victim);
    const clock = new ManualClock();
    const victimInitiator = startInitiator({ clock, initiatorIdentity: victim });
    const honestResponder = startResponder({ clock });
    const attackerInit = craftedInit({ pk1: victim.id });
    const { step1 } = expectOk(honestResponder.accept(attackerInit));
    assert.equal(refusalOf(() => victimInitiator.respond(step1)), 'unsolicited');
    assert.equal(signed.count, 0);
    assert.equal(victimInitiator.state, 'error');
  });

  test('a STEP1 that reuses the victim’s nonce with another timestamp is refused as timestamp-mismatch, unsigned', () => {
    const victim = identityFrom(1);
    const signed = countSignatures(victim);
    const clock = new ManualClock();
    const victimInitiator = startInitiator({ clock, initiatorIdentity: victim });
    const seen = decoded(victimInitiator.init);
    const attackerInit = craftedInit({ pk1: victim.id, nonce: seen.nonce, timestamp: seen.timestamp + 1 });
    const { step1 } = expectOk(startResponder({ clock }).accept(attackerInit));
    assert.equal(refusalOf(() => victimInitiator.respond(step1)), 'timestamp-mismatch');
    assert.equal(signed.count, 0);
  });

  test('a STEP1 that reuses the victim’s nonce and timestamp but names another initiator is refused as peer-mismatch, unsigned', () => {
    const victim = identityFrom(1);
    const signed = countSignatures(victim);
    const clock = new ManualClock();
    const victimInitiator = startInitiator({ clock, initiatorIdentity: victim });
    const seen = decoded(victimInitiator.init);
    const attackerInit = craftedInit({ pk1: identityFrom(3).id, nonce: seen.nonce, timestamp: seen.timestamp });
    const { step1 } = expectOk(startResponder({ clock }).accept(attackerInit));
    assert.equal(refusalOf(() => victimInitiator.respond(step1)), 'peer-mismatch');
    assert.equal(signed.count, 0);
  });
});

describe('metadata rewriting by the responder (spec §5.10 rule 2)', () => {
  function rewriteCase(initiatorMetadata: unknown, change: (m: ChallengeMessage) => ChallengeMessage) {
    const initiatorIdentity = identityFrom(1);
    const responderIdentity = identityFrom(2, IdType.Person);
    const signed = countSignatures(initiatorIdentity);
    const clock = new ManualClock();
    const initiator = startInitiator({ clock, initiatorIdentity, initiatorMetadata });
    const responder = startResponder({ clock, responderIdentity, responderMetadata: { grant: ['read'] } });
    const { step1 } = expectOk(responder.accept(initiator.init));
    const forged = forgedStep1(step1, change, responderIdentity);
    // The forgery carries a valid sign2: only the metadata comparison can stop it.
    const m = decoded(forged);
    assert.ok(responderIdentity.id.verifyChallenge(signedBytes(m), m.sign2!));
    const reason = refusalOf(() => initiator.respond(forged));
    assert.equal(signed.count, 0, 'the initiator co-signed rewritten metadata');
    return reason;
  }

  test('a re-signed STEP1 with metadata.pk1 rewritten is refused as metadata-rewritten, before the initiator signs', () => {
    const reason = rewriteCase({ role: 'reader' }, (m) => ({ ...m, metadata: withPk1(m.metadata, { role: 'admin' }) }));
    assert.equal(reason, 'metadata-rewritten');
  });

  test('a re-signed STEP1 that adds metadata.pk1 when the initiator sent none is refused as metadata-rewritten', () => {
    const reason = rewriteCase(undefined, (m) => ({ ...m, metadata: withPk1(m.metadata, { role: 'admin' }) }));
    assert.equal(reason, 'metadata-rewritten');
  });

  test('a re-signed STEP1 that drops the initiator’s metadata.pk1 is refused as metadata-rewritten', () => {
    const reason = rewriteCase({ role: 'reader' }, (m) => ({ ...m, metadata: { pk2: m.metadata.pk2 } }));
    assert.equal(reason, 'metadata-rewritten');
  });

  test('a re-signed STEP1 that replaces metadata.pk1 with null is refused as metadata-rewritten', () => {
    const reason = rewriteCase({ role: 'reader' }, (m) => ({ ...m, metadata: withPk1(m.metadata, null) }));
    assert.equal(reason, 'metadata-rewritten');
  });
});

describe('self-handshake (spec §5.10 rule 4)', () => {
  test('a STEP1 whose pk2 is the initiator’s own id, properly signed with it, is refused as self-handshake', () => {
    const initiatorIdentity = identityFrom(1);
    const signed = countSignatures(initiatorIdentity);
    const clock = new ManualClock();
    const initiator = startInitiator({ clock, initiatorIdentity });
    const { step1 } = expectOk(startResponder({ clock }).accept(initiator.init));
    // A second instance of the same key, so the forging signature is not counted as the initiator's.
    const reflected = forgedStep1(step1, (m) => ({ ...m, pk2: initiatorIdentity.id }), identityFrom(1));
    assert.equal(refusalOf(() => initiator.respond(reflected)), 'self-handshake');
    assert.equal(signed.count, 0);
  });

  for (const [how, twin] of twinsOf(identityFrom(1).id)) {
    test(`Self-handshake: a STEP1 whose pk2 is the initiator's own signing key under ${how}, signed with it, is refused as self-handshake`, () => {
      const initiatorIdentity = identityFrom(1);
      const signed = countSignatures(initiatorIdentity);
      const clock = new ManualClock();
      const initiator = startInitiator({ clock, initiatorIdentity });
      const { step1 } = expectOk(startResponder({ clock }).accept(initiator.init));
      const reflected = forgedStep1(step1, (m) => ({ ...m, pk2: twin }), identityFrom(1));
      assert.equal(refusalOf(() => initiator.respond(reflected)), 'self-handshake');
      assert.equal(signed.count, 0);
    });
  }
});

describe('INIT admission (spec §5.10 rules 4 and 5)', () => {
  test('a STEP1 arriving after the window (measured from INIT) is refused as stale, and the initiator signs nothing', () => {
    const initiatorIdentity = identityFrom(1);
    const signed = countSignatures(initiatorIdentity);
    const clock = new ManualClock(T0);
    const initiator = startInitiator({ clock, initiatorIdentity });
    clock.time = T0 + 1_000;
    const { step1 } = expectOk(startResponder({ clock }).accept(initiator.init));
    clock.time = T0 + LIVENESS_MS;
    assert.equal(refusalOf(() => initiator.respond(step1)), 'stale');
    assert.equal(signed.count, 0);
  });
});

describe('signatures', () => {
  test('a STEP1 with a tampered sign2 is refused as bad-responder-signature, and the initiator signs nothing', () => {
    const initiatorIdentity = identityFrom(1);
    const signed = countSignatures(initiatorIdentity);
    const clock = new ManualClock();
    const initiator = startInitiator({ clock, initiatorIdentity });
    const { step1 } = expectOk(startResponder({ clock }).accept(initiator.init));
    const m = decoded(step1);
    const tampered = encodeChallenge({ ...m, sign2: flipped(m.sign2!, 10, 0x01) });
    assert.equal(refusalOf(() => initiator.respond(tampered)), 'bad-responder-signature');
    assert.equal(signed.count, 0);
  });

  test('a STEP1 whose sign2 was made by another key than pk2 is refused as bad-responder-signature', () => {
    const clock = new ManualClock();
    const initiator = startInitiator({ clock });
    const { step1 } = expectOk(startResponder({ clock }).accept(initiator.init));
    const forged = forgedStep1(step1, (m) => m, identityFrom(3));
    assert.equal(refusalOf(() => initiator.respond(forged)), 'bad-responder-signature');
  });
});

describe('application refusals happen before signing (spec §5.10 rule 4)', () => {
  test('an initiator whose acceptResponder refuses (pinning) returns peer-refused and signs nothing', () => {
    const initiatorIdentity = identityFrom(1);
    const signed = countSignatures(initiatorIdentity);
    const pinned = identityFrom(7).id;
    const clock = new ManualClock();
    const initiator = startInitiator({
      clock,
      initiatorIdentity,
      initiator: { acceptResponder: pinnedTo(pinned) },
    });
    const { step1 } = expectOk(startResponder({ clock }).accept(initiator.init));
    assert.equal(refusalOf(() => initiator.respond(step1)), 'peer-refused');
    assert.equal(signed.count, 0);
    assert.equal(initiator.state, 'error');
    assert.equal(refusalOf(() => initiator.respond(step1)), 'out-of-order');
  });

  test('a man in the middle that swaps in its own id and signs STEP1 properly is stopped by pinning, as peer-refused', () => {
    const honestBroker = identityFrom(2, IdType.Person);
    const mallory = identityFrom(3);
    const clock = new ManualClock();
    const initiator = startInitiator({ clock, initiator: { acceptResponder: pinnedTo(honestBroker.id) } });
    const { step1 } = expectOk(startResponder({ clock, responderIdentity: honestBroker }).accept(initiator.init));
    const swapped = forgedStep1(step1, (m) => ({ ...m, pk2: mallory.id }), mallory);
    // Without the pin the swap is a well-formed, well-signed STEP1: the pin is what refuses it.
    const unpinned = startInitiator({ clock });
    const reused = forgedStep1(
      expectOk(startResponder({ clock, responderIdentity: honestBroker }).accept(unpinned.init)).step1,
      (m) => ({ ...m, pk2: mallory.id }),
      mallory,
    );
    expectOk(unpinned.respond(reused));
    assert.equal(refusalOf(() => initiator.respond(swapped)), 'peer-refused');
  });
});

describe('messages out of place', () => {
  test('an INIT given to an initiator is refused as unexpected-message', () => {
    const run = runHonestHandshake();
    assert.equal(refusalOf(() => startInitiator().respond(run.init)), 'unexpected-message');
  });
});
