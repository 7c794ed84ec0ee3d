import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ExtData } from '@msgpack/msgpack';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  IdType,
  encodeChallenge,
  signedBytes,
  verifyCertificate,
  type ChallengeMessage,
  type HandshakeRejection,
  type PeerDecision,
  VaultysId,
} from '../../../core/identity';
import {
  LIVENESS_MS,
  ManualClock,
  PROTOCOL,
  SERVICE,
  T0,
  attempt,
  bin16,
  concatBytes,
  countSignatures,
  craftedInit,
  decoded,
  expectOk,
  fixstrOfBytes,
  flipped,
  float32,
  float64,
  forgedStep1,
  identityFrom,
  int64,
  metadataWithRawPk1,
  msgpackEncode as encode,
  refusalOf,
  resigned,
  runHonestHandshake,
  startInitiator,
  startResponder,
  str8,
  wireEntries,
  wireMap,
  withValue,
} from './support/handshake';

/** metadata with pk1 first, as the decoder requires, whatever the source map's order. */
function withPk1(metadata: ChallengeMessage['metadata'], pk1: unknown): ChallengeMessage['metadata'] {
  return { pk1, ...('pk2' in metadata ? { pk2: metadata.pk2 } : {}) };
}

/** An acceptResponder that admits only the pinned id. */
function pinnedTo(pinned: VaultysId): (responder: VaultysId) => PeerDecision<void> {
  return (responder) => (responder.equals(pinned) ? { ok: true, value: undefined } : { ok: false, message: 'not the pinned broker' });
}

/** A fresh responder's verdict on an INIT, checking that the refusal came before any signature. */
function responderRefusal(init: Uint8Array): HandshakeRejection {
  const identity = identityFrom(2, IdType.Person);
  const signed = countSignatures(identity);
  const responder = startResponder({ responderIdentity: identity });
  const reason = refusalOf(() => responder.accept(init));
  assert.equal(signed.count, 0, 'the responder signed while refusing');
  assert.equal(responder.state, 'error');
  return reason;
}

describe('replay (spec §5.10 rule 6)', () => {
  test('a C3 delivered twice to the same responder session is refused as replay', () => {
    const run = runHonestHandshake();
    assert.equal(refusalOf(() => run.responder.complete(run.complete)), 'replay');
    assert.equal(run.responder.state, 'complete');
  });

  test('a STEP1 delivered twice to the same initiator is refused as replay, and sign1 is not made again', () => {
    const initiatorIdentity = identityFrom(1);
    const run = runHonestHandshake({ initiatorIdentity });
    const signed = countSignatures(initiatorIdentity);
    assert.equal(refusalOf(() => run.initiator.respond(run.step1)), 'replay');
    assert.equal(signed.count, 0);
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

describe('version downgrade (spec §5.10 rule 3)', () => {
  for (const version of [0, 2]) {
    test(`an INIT re-encoded with version ${version} is refused as unsupported-version`, () => {
      const init = withValue(startInitiator().init, 'version', encode(version));
      assert.equal(responderRefusal(init), 'unsupported-version');
    });
  }

  test('an INIT without a version field (upstream v0) is refused as unsupported-version', () => {
    const init = wireMap(wireEntries(startInitiator().init).filter(([k]) => k !== 'version'));
    assert.equal(responderRefusal(init), 'unsupported-version');
  });

  test('a STEP1 re-encoded with version 0 is refused as unsupported-version, and the initiator signs nothing', () => {
    const initiatorIdentity = identityFrom(1);
    const signed = countSignatures(initiatorIdentity);
    const clock = new ManualClock();
    const initiator = startInitiator({ clock, initiatorIdentity });
    const { step1 } = expectOk(startResponder({ clock }).accept(initiator.init));
    const downgraded = withValue(step1, 'version', encode(0));
    assert.equal(refusalOf(() => initiator.respond(downgraded)), 'unsupported-version');
    assert.equal(signed.count, 0);
  });

  test('a certificate re-encoded with version 0 is refused as unsupported-version', () => {
    const run = runHonestHandshake();
    assert.equal(refusalOf(() => verifyCertificate(withValue(run.complete, 'version', encode(0)))), 'unsupported-version');
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

  test('a certificate whose pk1 and pk2 are the same id, signed twice with it, is refused as self-handshake', () => {
    const run = runHonestHandshake();
    const self = { ...decoded(run.complete), pk2: run.initiatorIdentity.id };
    const signedTwice = resigned(resigned(self, run.initiatorIdentity, 'sign2'), run.initiatorIdentity, 'sign1');
    assert.equal(refusalOf(() => verifyCertificate(encodeChallenge(signedTwice))), 'self-handshake');
  });

  /**
   * The same Ed25519 key under another 77-byte id: another type byte, or another X25519 key beside it. A
   * comparison of whole ids lets such a twin through as a peer, so a side would sign a session with itself.
   */
  const twinsOf = (id: VaultysId): [string, VaultysId][] => [
    ['another type byte', VaultysId.fromBytes(concatBytes([id.type === IdType.Machine ? IdType.Person : IdType.Machine], id.bytes.subarray(1)))],
    ['another X25519 key', VaultysId.fromBytes(concatBytes(id.bytes.subarray(0, 45), identityFrom(77).id.encryptionKey))],
  ];

  for (const [how, twin] of twinsOf(identityFrom(2, IdType.Person).id)) {
    test(`Self-handshake: an INIT from the responder's own signing key under ${how} is refused as self-handshake, before signing`, () => {
      assert.notEqual(twin.did, identityFrom(2, IdType.Person).did, 'the twin is another id');
      assert.equal(responderRefusal(craftedInit({ pk1: twin })), 'self-handshake');
    });
  }

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

    test(`Self-handshake: a certificate whose pk2 is pk1's signing key under ${how}, signed twice with it, is refused as self-handshake`, () => {
      const run = runHonestHandshake();
      const self = { ...decoded(run.complete), pk2: twin };
      const signedTwice = resigned(resigned(self, run.initiatorIdentity, 'sign2'), run.initiatorIdentity, 'sign1');
      assert.equal(refusalOf(() => verifyCertificate(encodeChallenge(signedTwice))), 'self-handshake');
    });
  }
});

describe('ids that do not parse strictly (spec §5.10 rule 4)', () => {
  const valid = identityFrom(9).id.bytes;
  const withByte = (index: number, value: number) => {
    const copy = new Uint8Array(valid);
    copy[index] = value;
    return copy;
  };
  const cases: [string, Uint8Array, HandshakeRejection][] = [
    ['10 zero bytes', new Uint8Array(10), 'bad-id'],
    ['an empty blob', new Uint8Array(0), 'bad-id'],
    ['77 bytes with a wrong layout (key "v" header a2)', withByte(2, 0xa2), 'bad-id'],
    ['77 bytes with a wrong layout (x written as bin16)', withByte(7, 0xc5), 'bad-id'],
    ['a FIDO2 id (type byte 3)', withByte(0, 3), 'unsupported-id'],
    ['a FIDO2PRF id (type byte 4)', withByte(0, 4), 'unsupported-id'],
    ['an id of unknown type 9', withByte(0, 9), 'unsupported-id'],
    ['a version 0 id', withByte(4, 0), 'unsupported-id'],
    ['an ML-DSA-87 sized id (2638 B)', concatBytes([0], new Uint8Array(2637)), 'unsupported-id'],
  ];
  for (const [name, pk, reason] of cases) {
    test(`an INIT whose pk1 is ${name} is refused as ${reason}, before signing`, () => {
      const init = withValue(startInitiator().init, 'pk1', encode(pk));
      assert.equal(responderRefusal(init), reason);
    });
  }

  const firstOfEach = (['bad-id', 'unsupported-id'] as const).map((r) => cases.find(([, , reason]) => reason === r)!);
  for (const [name, pk, reason] of firstOfEach) {
    test(`a STEP1 whose pk2 is ${name} is refused as ${reason}, before the initiator signs`, () => {
      const initiatorIdentity = identityFrom(1);
      const signed = countSignatures(initiatorIdentity);
      const clock = new ManualClock();
      const initiator = startInitiator({ clock, initiatorIdentity });
      const { step1 } = expectOk(startResponder({ clock }).accept(initiator.init));
      assert.equal(refusalOf(() => initiator.respond(withValue(step1, 'pk2', encode(pk)))), reason);
      assert.equal(signed.count, 0);
    });
  }
});

describe('size limits (spec §5.9)', () => {
  test('more than 64 KiB is refused as oversized by every entry point', () => {
    const big = new Uint8Array(DEFAULT_MAX_MESSAGE_BYTES + 1);
    assert.equal(refusalOf(() => startResponder().accept(big)), 'oversized');
    assert.equal(refusalOf(() => startInitiator().respond(big)), 'oversized');
    assert.equal(refusalOf(() => verifyCertificate(big)), 'oversized');
  });

  test('an INIT of exactly 64 KiB is accepted, and one byte more is refused as oversized', () => {
    const initOfLength = (pad: number) => startInitiator({ initiatorMetadata: 'x'.repeat(pad) }).init;
    const probe = initOfLength(1000);
    const pad = 1000 + DEFAULT_MAX_MESSAGE_BYTES - probe.length;
    const atLimit = initOfLength(pad);
    assert.equal(atLimit.length, DEFAULT_MAX_MESSAGE_BYTES);
    expectOk(startResponder().accept(atLimit));
    const over = initOfLength(pad + 1);
    assert.equal(over.length, DEFAULT_MAX_MESSAGE_BYTES + 1);
    assert.equal(responderRefusal(over), 'oversized');
  });

  test('a custom maxMessageBytes is enforced at the responder, the initiator and verifyCertificate', () => {
    const clock = new ManualClock();
    const initiator = startInitiator({ clock });
    const tight = startResponder({ clock, responder: { maxMessageBytes: initiator.init.length - 1 } });
    assert.equal(refusalOf(() => tight.accept(initiator.init)), 'oversized');

    const exact = startResponder({ clock, responder: { maxMessageBytes: initiator.init.length } });
    const { step1 } = expectOk(exact.accept(initiator.init));
    const tightInitiator = startInitiator({ clock, initiator: { maxMessageBytes: step1.length - 1 } });
    assert.equal(refusalOf(() => tightInitiator.respond(step1)), 'oversized');

    const run = runHonestHandshake();
    assert.equal(refusalOf(() => verifyCertificate(run.complete, { maxMessageBytes: run.complete.length - 1 })), 'oversized');
    expectOk(verifyCertificate(run.complete, { maxMessageBytes: run.complete.length }));
  });
});

describe('truncation', () => {
  const run = runHonestHandshake();
  const kinds: [string, Uint8Array, (bytes: Uint8Array) => HandshakeRejection][] = [
    ['INIT', run.init, (b) => refusalOf(() => startResponder().accept(b))],
    ['STEP1', run.step1, (b) => refusalOf(() => startInitiator().respond(b))],
    ['COMPLETE', run.complete, (b) => refusalOf(() => verifyCertificate(b))],
  ];
  for (const [kind, message, verdict] of kinds) {
    test(`every strict prefix of a real ${kind} is refused as truncated`, () => {
      const otherwise: string[] = [];
      for (let length = 0; length < message.length; length++) {
        const reason = verdict(message.subarray(0, length));
        if (reason !== 'truncated') otherwise.push(`${length}:${reason}`);
      }
      assert.deepEqual(otherwise, [], `prefixes refused for another reason (length:reason)`);
    });
  }
});

describe('non-canonical encodings (spec §1, §5.8, §5.11)', () => {
  const init = startInitiator().init;
  const entries = wireEntries(init);
  const cases: [string, Uint8Array, HandshakeRejection][] = [
    ['version written as cc 01', withValue(init, 'version', Uint8Array.of(0xcc, 0x01)), 'non-canonical'],
    ['protocol written with a str8 header', withValue(init, 'protocol', str8(PROTOCOL)), 'non-canonical'],
    ['the 16-byte nonce written as bin16', withValue(init, 'nonce', bin16(decoded(init).nonce)), 'non-canonical'],
    ['the timestamp written as signed int64 d3 (the Go port’s pre-fix form)', withValue(init, 'timestamp', int64(T0)), 'non-canonical'],
    ['empty metadata written as map16', withValue(init, 'metadata', Uint8Array.of(0xde, 0, 0)), 'non-canonical'],
    ['a duplicated version key', wireMap([...entries, ['version', encode(1)]]), 'non-canonical'],
    // Key order survives a decode/encode round trip, so the bytes are canonical MessagePack; our fixed layout refuses them.
    ['its keys in another order', wireMap([...entries.slice(1), ...entries.slice(0, 1)]), 'bad-schema'],
    ['an extra field', wireMap([...entries, ['extra', encode(1)]]), 'bad-schema'],
    // Two values back to back are not one MessagePack value: the decoder itself refuses them.
    ['a trailing byte', concatBytes(init, [0x00]), 'malformed'],
  ];
  for (const [name, bytes, reason] of cases) {
    test(`an INIT with ${name} is refused as ${reason}`, () => {
      assert.equal(responderRefusal(bytes), reason);
    });
  }

  test('a certificate re-encoded non-canonically (same U, so both signatures still hold) is refused as non-canonical', () => {
    const run = runHonestHandshake();
    const variants = [
      withValue(run.complete, 'version', Uint8Array.of(0xcc, 0x01)),
      withValue(run.complete, 'timestamp', int64(T0)),
      withValue(run.complete, 'service', str8(SERVICE)),
    ];
    for (const variant of variants) {
      // The reading is the same as the honest certificate's, which is what makes this a second encoding, not a forgery.
      assert.deepEqual(wireEntries(variant).map(([k]) => k), wireEntries(run.complete).map(([k]) => k));
      assert.equal(refusalOf(() => verifyCertificate(variant)), 'non-canonical');
    }
  });
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

describe('metadata values from a peer (spec §5.8)', () => {
  const initWithPk1 = (raw: Uint8Array) => withValue(startInitiator().init, 'metadata', metadataWithRawPk1(raw));
  const cases: [string, Uint8Array, HandshakeRejection][] = [
    ['a float (1.5, written as float64)', float64(1.5), 'bad-metadata'],
    ['an integer written as float64 (2.0)', float64(2), 'non-canonical'],
    ['a float32', float32(1.5), 'non-canonical'],
    ['integer-like keys in wire order "10","2" (JS reorders them)', wireMap([['10', encode(1)], ['2', encode(2)]]), 'non-canonical'],
    ['integer-like keys already in ascending order', wireMap([['2', encode(1)], ['10', encode(2)]]), 'bad-metadata'],
    ['a single integer-like key', wireMap([['0', encode('x')]]), 'bad-metadata'],
    ['a timestamp extension (Date)', encode(new Date(T0)), 'bad-metadata'],
    ['an application extension type', encode(new ExtData(7, Uint8Array.of(1, 2))), 'bad-metadata'],
    ['an overlong UTF-8 NUL (c0 80)', fixstrOfBytes([0x61, 0xc0, 0x80]), 'non-canonical'],
    ['a CESU-8 lone surrogate (ed a0 80, invalid UTF-8)', fixstrOfBytes([0x61, 0xed, 0xa0, 0x80]), 'non-canonical'],
    ['the key __proto__', wireMap([['__proto__', encode(1)]]), 'malformed'],
  ];
  for (const [name, raw, reason] of cases) {
    test(`metadata.pk1 holding ${name} is refused as ${reason}`, () => {
      assert.equal(responderRefusal(initWithPk1(raw)), reason);
    });
  }

  test('msgpack nil (the only form undefined could take on the wire) arrives as null and is accepted as null', () => {
    const { initiatorMetadata } = expectOk(startResponder().accept(initWithPk1(Uint8Array.of(0xc0))));
    assert.equal(initiatorMetadata, null);
  });

  test('metadata with a key other than pk1/pk2, or pk2 before pk1, is refused as bad-metadata', () => {
    const init = startInitiator().init;
    assert.equal(responderRefusal(withValue(init, 'metadata', wireMap([['pk3', encode(1)]]))), 'bad-metadata');
    assert.equal(responderRefusal(withValue(init, 'metadata', wireMap([['pk2', encode(1)], ['pk1', encode(1)]]))), 'bad-metadata');
  });

  test('metadata that is not a map is refused as bad-schema', () => {
    assert.equal(responderRefusal(withValue(startInitiator().init, 'metadata', encode([1]))), 'bad-schema');
  });

  for (const [name, value] of [
    ['a float', { limit: 0.5 }],
    ['undefined', { limit: undefined }],
    ['an integer-like key', { 7: 'x' }],
    ['a Date', { at: new Date(T0) }],
    ['an unsafe integer', { big: 2 ** 53 }],
  ] as const) {
    test(`a responder whose own metadata holds ${name} refuses as bad-metadata without signing`, () => {
      const responderIdentity = identityFrom(2, IdType.Person);
      const signed = countSignatures(responderIdentity);
      const responder = startResponder({ responderIdentity, responderMetadata: value });
      assert.equal(refusalOf(() => responder.accept(startInitiator().init)), 'bad-metadata');
      assert.equal(signed.count, 0);
    });

    test(`an initiator refuses to start with metadata holding ${name} (TypeError)`, () => {
      assert.throws(() => startInitiator({ initiatorMetadata: value }), TypeError);
    });
  }

  test('an initiator refuses to start with metadata holding a lone surrogate, which has no UTF-8 form (TypeError)', () => {
    // Long enough for @msgpack/msgpack to use TextEncoder, which silently writes U+FFFD instead.
    assert.throws(() => startInitiator({ initiatorMetadata: `${'x'.repeat(60)}\uD800` }), TypeError);
    assert.throws(() => startInitiator({ initiatorMetadata: 'a\uDC00' }), TypeError);
  });

  test('a responder whose own metadata has an own __proto__ key (which no decoder accepts) refuses as bad-metadata without signing', () => {
    const responderIdentity = identityFrom(2, IdType.Person);
    const signed = countSignatures(responderIdentity);
    const policyFromJson: unknown = JSON.parse('{"__proto__": {"capabilities": ["*"]}}');
    const responder = startResponder({ responderIdentity, responderMetadata: policyFromJson });
    assert.equal(refusalOf(() => responder.accept(startInitiator().init)), 'bad-metadata');
    assert.equal(signed.count, 0);
  });
});

describe('messages out of place', () => {
  test('a STEP1 given to a responder, an INIT given to an initiator or to verifyCertificate are refused as unexpected-message', () => {
    const run = runHonestHandshake();
    assert.equal(refusalOf(() => startResponder().accept(run.step1)), 'unexpected-message');
    assert.equal(refusalOf(() => startInitiator().respond(run.init)), 'unexpected-message');
    assert.equal(refusalOf(() => verifyCertificate(run.init)), 'unexpected-message');
    assert.equal(refusalOf(() => verifyCertificate(run.step1)), 'unexpected-message');
  });

  test('a C3 before any INIT is refused as out-of-order', () => {
    const run = runHonestHandshake();
    assert.equal(refusalOf(() => startResponder().complete(run.complete)), 'out-of-order');
  });

  test('values that are not bytes are refused as malformed, and empty bytes as truncated', () => {
    for (const value of ['hello', undefined, null, 42, { version: 1 }, [1, 2], Buffer.from('x').buffer]) {
      assert.equal(refusalOf(() => startResponder().accept(value)), 'malformed');
      assert.equal(refusalOf(() => verifyCertificate(value)), 'malformed');
    }
    assert.equal(refusalOf(() => startResponder().accept(new Uint8Array(0))), 'truncated');
  });
});
