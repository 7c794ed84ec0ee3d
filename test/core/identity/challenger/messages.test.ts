// Attacks on the Challenger codec (core/identity/challenger/messages.ts: decodeChallenge, encodeChallenge, the metadata
// rules), one per way it must refuse: real keys, real signatures, messages forged byte by byte; each refusal asserted
// by its reason (spec sections cited per block).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ExtData } from '@msgpack/msgpack';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  encodeChallenge,
  type HandshakeRejection,
  IdType,
  verifyCertificate,
} from '../../../../core/identity';
import { signable } from '../support/arbitraries';
import {
  bin16,
  concatBytes,
  countSignatures,
  decoded,
  expectOk,
  fixstrOfBytes,
  float32,
  float64,
  identityFrom,
  int64,
  ManualClock,
  metadataWithRawPk1,
  msgpackEncode as encode,
  PROTOCOL,
  refusalOf,
  responderRefusal,
  runHonestHandshake,
  SERVICE,
  startInitiator,
  startResponder,
  str8,
  T0,
  wireEntries,
  wireMap,
  withValue,
} from '../support/handshake';

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
  test('values that are not bytes are refused as malformed, and empty bytes as truncated', () => {
    for (const value of ['hello', undefined, null, 42, { version: 1 }, [1, 2], Buffer.from('x').buffer]) {
      assert.equal(refusalOf(() => startResponder().accept(value)), 'malformed');
      assert.equal(refusalOf(() => verifyCertificate(value)), 'malformed');
    }
    assert.equal(refusalOf(() => startResponder().accept(new Uint8Array(0))), 'truncated');
  });
});

describe('codec properties', () => {
  test('decode then encode of every handshake message is byte-exact', () => {
    fc.assert(
      fc.property(fc.option(signable, { nil: undefined }), fc.option(signable, { nil: undefined }), (initiatorMetadata, responderMetadata) => {
        const run = runHonestHandshake({ initiatorMetadata, responderMetadata });
        for (const message of [run.init, run.step1, run.complete]) {
          assert.deepEqual(Buffer.from(encodeChallenge(decoded(message))), Buffer.from(message));
        }
      }),
      { numRuns: 150 },
    );
  });
});
