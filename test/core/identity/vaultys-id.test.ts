import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { format, inspect } from 'node:util';
import fc from 'fast-check';
import { IdType, IdentityError, SecretIdentity, VaultysId, type IdentityErrorCode } from '../../../core/identity';
import { concatBytes, identityFrom } from './support/handshake';

/** Spec §3.1 / test-vectors.json: this entropy gives a PERSON id with the DID below (spec §2.5). */
const VECTOR_ENTROPY = Buffer.from('0123456789abcdef'.repeat(4), 'hex');
const VECTOR_DID = 'did:vaultys:015b1f489c056ee8135405ac01c129c58f3d3835';
const VECTOR_ID_PREFIX = '0183a17601a178c4203e2373a8c520575e2345093211c60e7fda8397e77d1f60c216fa7aaedd60fe81a165c420f0d32702';

function errorCode(call: () => unknown): IdentityErrorCode {
  try {
    call();
  } catch (err) {
    assert.ok(err instanceof IdentityError, `expected an IdentityError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected an IdentityError, but the input was accepted');
}

function withByte(bytes: Uint8Array, index: number, value: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = value;
  return copy;
}

describe('VaultysId round trips', () => {
  for (const type of [IdType.Machine, IdType.Person, IdType.Organization]) {
    test(`a type ${type} id survives bytes, base64 and secret round trips byte-exactly`, () => {
      const identity = SecretIdentity.generate(type);
      const id = identity.id;
      assert.equal(id.bytes.length, 77);
      assert.equal(id.bytes[0], type);
      assert.deepEqual(Buffer.from(VaultysId.fromBytes(id.bytes).bytes), Buffer.from(id.bytes));
      assert.ok(VaultysId.fromBase64(id.toBase64()).equals(id));
      const secret = identity.exportSecret();
      assert.equal(secret.length, 77);
      const reloaded = SecretIdentity.fromSecret(secret);
      assert.ok(reloaded.id.equals(id));
      assert.equal(reloaded.did, identity.did);
      assert.deepEqual(Buffer.from(reloaded.exportSecret()), Buffer.from(secret));
      // The reloaded key signs for the same id.
      const message = Buffer.from('reloaded');
      assert.ok(id.verifyChallenge(message, reloaded.signChallenge(message)));
    });
  }

  test('the spec vector entropy gives the spec id and DID', () => {
    const identity = SecretIdentity.fromEntropy(IdType.Person, VECTOR_ENTROPY);
    assert.ok(Buffer.from(identity.id.bytes).toString('hex').startsWith(VECTOR_ID_PREFIX));
    assert.equal(identity.did, VECTOR_DID);
    assert.equal(identity.id.fingerprint, '015B 1F48 9C05 6EE8 1354 05AC 01C1 29C5 8F3D 3835');
  });

  test('the DID is the type byte then 19 bytes of SHA-224 of the id without its type byte; the fingerprint is it in groups of four', () => {
    for (const type of [IdType.Machine, IdType.Person, IdType.Organization]) {
      const id = SecretIdentity.generate(type).id;
      assert.match(id.did, new RegExp(`^did:vaultys:0${type}[0-9a-f]{38}$`));
      const digest = createHash('sha224').update(id.bytes.subarray(1)).digest('hex');
      assert.equal(id.did.slice('did:vaultys:02'.length), digest.slice(0, 38));
      assert.match(id.fingerprint, /^([0-9A-F]{4} ){9}[0-9A-F]{4}$/);
      assert.equal(id.fingerprint.replaceAll(' ', '').toLowerCase(), id.did.slice('did:vaultys:'.length));
      assert.equal(String(id), id.did);
    }
  });

  test('the same keys under another type byte are another id with another DID', () => {
    const machine = SecretIdentity.fromEntropy(IdType.Machine, VECTOR_ENTROPY).id;
    const person = SecretIdentity.fromEntropy(IdType.Person, VECTOR_ENTROPY).id;
    assert.deepEqual(machine.signingKey, person.signingKey);
    assert.ok(!machine.equals(person));
    assert.notEqual(machine.did, person.did);
  });
});

describe('strict id parsing (spec §2.3, our rules)', () => {
  const valid = identityFrom(4).id.bytes;
  const cases: [string, Uint8Array, IdentityErrorCode][] = [
    ['76 bytes', valid.subarray(0, 76), 'malformed-id'],
    ['78 bytes', concatBytes(valid, [0]), 'malformed-id'],
    ['empty', new Uint8Array(0), 'malformed-id'],
    ['a v0 id', withByte(valid, 4, 0), 'unsupported-version'],
    ['version 2', withByte(valid, 4, 2), 'unsupported-version'],
    ['a map header other than fixmap 3', withByte(valid, 1, 0x84), 'malformed-id'],
    ['key "v" renamed', withByte(valid, 3, 0x77), 'malformed-id'],
    ['x written as bin16', withByte(valid, 7, 0xc5), 'malformed-id'],
    ['x of another declared length', withByte(valid, 8, 0x1f), 'malformed-id'],
    ['key "e" renamed', withByte(valid, 42, 0x66), 'malformed-id'],
    ['e written as str8', withByte(valid, 43, 0xd9), 'malformed-id'],
    ['FIDO2 type 3', withByte(valid, 0, 3), 'unsupported-id'],
    ['FIDO2PRF type 4', withByte(valid, 0, 4), 'unsupported-id'],
    ['FIDO2 type 3 at another length', concatBytes([3], new Uint8Array(120)), 'unsupported-id'],
    ['unknown type 9', withByte(valid, 0, 9), 'unsupported-id'],
    ['ML-DSA-87 length 2638', concatBytes([0], new Uint8Array(2637)), 'unsupported-id'],
    ['hybrid length 2670', concatBytes([1], new Uint8Array(2669)), 'unsupported-id'],
  ];
  for (const [name, bytes, code] of cases) {
    test(`an id that is ${name} is refused with ${code}`, () => {
      assert.equal(errorCode(() => VaultysId.fromBytes(bytes)), code);
    });
  }

  test('the unmodified id parses (the control for the cases above)', () => {
    assert.ok(VaultysId.fromBytes(valid).equals(identityFrom(4).id));
  });

  test('a non-base64 string or a string instead of bytes is refused with malformed-id', () => {
    assert.equal(errorCode(() => VaultysId.fromBase64('not base64!')), 'malformed-id');
    assert.equal(errorCode(() => VaultysId.fromBase64(Buffer.from(valid).toString('hex') + '*')), 'malformed-id');
    assert.equal(errorCode(() => VaultysId.fromBytes(Buffer.from(valid).toString('hex') as unknown as Uint8Array)), 'malformed-id');
  });

  test('secrets are parsed as strictly as ids, with secret codes', () => {
    const secret = identityFrom(4).exportSecret();
    assert.equal(errorCode(() => SecretIdentity.fromSecret(secret.subarray(0, 76))), 'malformed-secret');
    assert.equal(errorCode(() => SecretIdentity.fromSecret(withByte(secret, 4, 0))), 'unsupported-version');
    assert.equal(errorCode(() => SecretIdentity.fromSecret(withByte(secret, 0, 3))), 'unsupported-id');
    assert.equal(errorCode(() => SecretIdentity.fromSecret(concatBytes([0], new Uint8Array(72)))), 'unsupported-id');
    assert.equal(errorCode(() => SecretIdentity.fromSecret(concatBytes([0], new Uint8Array(83)))), 'unsupported-id');
    assert.equal(errorCode(() => SecretIdentity.fromEntropy(3 as IdType, new Uint8Array(32))), 'unsupported-id');
  });
});

describe('signChallenge takes bytes only (spec §4.4)', () => {
  const identity = identityFrom(4);

  test('signChallenge refuses a string with a TypeError', () => {
    assert.throws(() => identity.signChallenge('example.com' as unknown as Uint8Array), TypeError);
    assert.throws(() => identity.signChallenge(undefined as unknown as Uint8Array), TypeError);
  });

  test('verifyChallenge returns false for a string, even one upstream would read as the signed bytes', () => {
    // Upstream's hex quirk turns "test message" into empty bytes and "example.com" into 0e 0a.
    const overEmpty = identity.signChallenge(new Uint8Array(0));
    const overQuirk = identity.signChallenge(Uint8Array.of(0x0e, 0x0a));
    assert.ok(identity.id.verifyChallenge(new Uint8Array(0), overEmpty));
    assert.ok(identity.id.verifyChallenge(Uint8Array.of(0x0e, 0x0a), overQuirk));
    assert.equal(identity.id.verifyChallenge('test message' as unknown as Uint8Array, overEmpty), false);
    assert.equal(identity.id.verifyChallenge('example.com' as unknown as Uint8Array, overQuirk), false);
  });

  test('a signature of the wrong length or by another id does not verify', () => {
    const message = Buffer.from('m');
    const signature = identity.signChallenge(message);
    assert.equal(identity.id.verifyChallenge(message, signature.subarray(0, 63)), false);
    assert.equal(identity.id.verifyChallenge(message, concatBytes(signature, [0])), false);
    assert.equal(identityFrom(5).id.verifyChallenge(message, signature), false);
  });

  test('signChallenge is domain-separated from a raw Ed25519 signature of the same bytes', () => {
    const message = Buffer.from('m');
    assert.equal(identity.id.verifyChallenge(message, identity.signRaw(message)), false);
    assert.equal(identity.id.verifyRaw(message, identity.signChallenge(message)), false);
  });
});

describe('the secret never leaks through formatting', () => {
  test('util.inspect, format, JSON.stringify and String() of a SecretIdentity show the DID and no secret bytes', () => {
    const identity = identityFrom(4);
    const secret = Buffer.from(identity.exportSecret());
    const edSeed = secret.subarray(9, 41);
    const xSecret = secret.subarray(45, 77);
    const renderings = [
      inspect(identity),
      inspect(identity, { showHidden: true, depth: Infinity, customInspect: false, maxArrayLength: Infinity }),
      inspect({ wrapped: [identity] }, { depth: Infinity }),
      format('%o %O %s %j', identity, identity, identity, identity),
      JSON.stringify(identity),
      JSON.stringify({ nested: { identity } }),
      String(identity),
      `${identity}`,
    ];
    const forbidden = [
      ...[secret, edSeed, xSecret].flatMap((b) => [b.toString('hex'), b.toString('base64'), b.toString('base64url')]),
      // util.inspect prints bytes as decimal lists (the secret's first bytes are the public header, so only the private halves).
      ...[edSeed, xSecret].map((b) => [...b.subarray(0, 8)].join(',')),
    ];
    for (const rendering of renderings) {
      const compact = rendering.replace(/\s+/g, '');
      for (const needle of forbidden) assert.ok(!compact.includes(needle), `secret material in: ${rendering.slice(0, 80)}…`);
    }
    assert.ok(renderings[0]!.includes(identity.did));
    assert.deepEqual(JSON.parse(JSON.stringify(identity)), { did: identity.did });
  });
});

describe('signChallenge / verifyChallenge properties', () => {
  test('a signature verifies over its message, and any bit flip in the message or the signature makes it fail', () => {
    const identities = [identityFrom(4), identityFrom(5, IdType.Person), identityFrom(6, IdType.Organization)];
    fc.assert(
      fc.property(fc.nat(identities.length - 1), fc.uint8Array({ maxLength: 512 }), fc.nat(), fc.nat(), (who, message, messageBit, signatureBit) => {
        const signer = identities[who]!;
        const signature = signer.signChallenge(message);
        assert.equal(signature.length, 64);
        assert.ok(signer.id.verifyChallenge(message, signature));
        const flipBit = (bytes: Uint8Array, bit: number) => {
          const copy = new Uint8Array(bytes);
          const i = (bit >> 3) % copy.length;
          copy[i] = copy[i]! ^ (1 << (bit & 7));
          return copy;
        };
        assert.equal(signer.id.verifyChallenge(message, flipBit(signature, signatureBit)), false);
        if (message.length > 0) assert.equal(signer.id.verifyChallenge(flipBit(message, messageBit), signature), false);
        assert.equal(signer.id.verifyChallenge(concatBytes(message, [0]), signature), false);
      }),
      { numRuns: 150 },
    );
  });
});
