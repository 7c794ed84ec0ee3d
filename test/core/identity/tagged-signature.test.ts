import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  IdType,
  SIGNATURE_CONTEXTS,
  canonicalEncode,
  encodeChallenge,
  open,
  seal,
  signTagged,
  signedBytes,
  taggedBytes,
  verifyCertificate,
  verifyTagged,
  type OpenFailure,
  type SealedEnvelope,
  type SignatureContext,
} from '../../../core/identity';
import {
  ManualClock,
  concatBytes,
  msgpackEncode,
  decoded,
  expectOk,
  identityFrom,
  refusalOf,
  runHonestHandshake,
  startInitiator,
  startResponder,
} from './support/handshake';

const signer = identityFrom(4);
const body = { intentId: 'i-1', agent: 'did:vaultys:00ab', action: 'fs.read', path: '/tmp/x', seq: 7, urgent: false, data: Uint8Array.of(1, 2, 3) };

describe('context separation', () => {
  const signatures = new Map<SignatureContext, Uint8Array>(SIGNATURE_CONTEXTS.map((ctx) => [ctx, signTagged(signer, ctx, body)]));

  test('each context’s signature verifies under that context', () => {
    for (const ctx of SIGNATURE_CONTEXTS) assert.ok(verifyTagged(signer.id, ctx, body, signatures.get(ctx)!), ctx);
  });

  test('a signature made for one context verifies under no other (every ordered pair)', () => {
    const crossings: string[] = [];
    for (const made of SIGNATURE_CONTEXTS) {
      for (const checked of SIGNATURE_CONTEXTS) {
        if (made !== checked && verifyTagged(signer.id, checked, body, signatures.get(made)!)) crossings.push(`${made} → ${checked}`);
      }
    }
    assert.deepEqual(crossings, []);
    assert.equal(new Set([...signatures.values()].map((s) => Buffer.from(s).toString('hex'))).size, SIGNATURE_CONTEXTS.length);
  });

  test('the context is inside the signed bytes, not only beside them', () => {
    const bytes = taggedBytes('vaultysclaw/intent/v1', body);
    assert.deepEqual(Buffer.from(bytes), Buffer.from(canonicalEncode({ ctx: 'vaultysclaw/intent/v1', body })));
    assert.ok(Buffer.from(bytes).includes(Buffer.from('vaultysclaw/intent/v1')));
    // The untagged body's own signature is not a tagged one.
    assert.equal(verifyTagged(signer.id, 'vaultysclaw/intent/v1', body, signer.signChallenge(canonicalEncode(body))), false);
  });

  test('an unknown context is refused: TypeError on sign, false on verify', () => {
    const unknown = 'vaultysclaw/intent/v2' as SignatureContext;
    assert.throws(() => signTagged(signer, unknown, body), TypeError);
    const overUnknown = signer.signChallenge(canonicalEncode({ ctx: unknown, body }));
    assert.equal(verifyTagged(signer.id, unknown, body, overUnknown), false);
  });
});

describe('body integrity', () => {
  const ctx = 'vaultysclaw/approval-decision/v1';
  const signature = signTagged(signer, ctx, { approvalId: 'a-1', decision: 'deny', by: 'alice' });

  test('the signed body verifies, and any changed, added or removed field fails', () => {
    assert.ok(verifyTagged(signer.id, ctx, { approvalId: 'a-1', decision: 'deny', by: 'alice' }, signature));
    assert.equal(verifyTagged(signer.id, ctx, { approvalId: 'a-1', decision: 'allow', by: 'alice' }, signature), false);
    assert.equal(verifyTagged(signer.id, ctx, { approvalId: 'a-1', decision: 'deny', by: 'alice', scope: '*' }, signature), false);
    assert.equal(verifyTagged(signer.id, ctx, { approvalId: 'a-1', decision: 'deny' }, signature), false);
  });

  test('another signer’s id does not verify the signature', () => {
    assert.equal(verifyTagged(identityFrom(5, IdType.Person).id, ctx, { approvalId: 'a-1', decision: 'deny', by: 'alice' }, signature), false);
  });
});

describe('unsignable bodies (spec §5.8 encoding rules)', () => {
  const ctx = 'vaultysclaw/result/v1';
  const cases: [string, Record<string, unknown>][] = [
    ['a float', { exitCode: 0.5 }],
    ['a nested float', { stats: { ratio: [1, 2.5] } }],
    ['undefined', { output: undefined }],
    ['an integer-like key', { 3: 'x' }],
    ['a Date', { at: new Date(1_735_689_600_000) }],
    ['an unsafe integer', { bytes: 2 ** 53 }],
    ['a Map instance', { table: new Map([['a', 1]]) }],
    ['a bigint', { n: 1n }],
  ];
  for (const [name, unsignable] of cases) {
    test(`a body with ${name} throws TypeError on sign and does not verify even against a signature over its encoding`, () => {
      assert.throws(() => signTagged(signer, ctx, unsignable), TypeError);
      let encoded: Uint8Array | undefined;
      try {
        encoded = canonicalEncode({ ctx, body: unsignable });
      } catch {
        // Some values (bigint) cannot be encoded at all; verification must still just say no.
      }
      const signature = encoded ? signer.signChallenge(encoded) : new Uint8Array(64);
      assert.equal(verifyTagged(signer.id, ctx, unsignable, signature), false);
    });
  }

  test('a lone surrogate is unsignable: TypeError on sign, and a signature over U+FFFD does not verify it', () => {
    // @msgpack/msgpack writes long strings through TextEncoder, which turns any lone surrogate into U+FFFD:
    // if such a body were signable, one signature would vouch for several different bodies.
    const lone = { path: `/${'x'.repeat(60)}\uD800` };
    const replaced = { path: `/${'x'.repeat(60)}\uFFFD` };
    assert.throws(() => signTagged(signer, ctx, lone), TypeError);
    assert.equal(verifyTagged(signer.id, ctx, lone, signTagged(signer, ctx, replaced)), false);
  });

  test('the control: null in place of undefined is signable and verifies against the same encoding', () => {
    const encoded = canonicalEncode({ ctx, body: { output: undefined } });
    assert.ok(verifyTagged(signer.id, ctx, { output: null }, signer.signChallenge(encoded)));
  });
});

describe('tagged signatures and Challenger signatures never stand in for each other', () => {
  test('a tagged signature over a body mirroring U is refused as sign1 or sign2 of a certificate', () => {
    const initiatorIdentity = identityFrom(1);
    const responderIdentity = identityFrom(2, IdType.Person);
    const run = runHonestHandshake({ initiatorIdentity, responderIdentity });
    const m = decoded(run.complete);
    const mirror = {
      version: 1,
      protocol: m.protocol,
      service: m.service,
      timestamp: m.timestamp,
      pk1: m.pk1.bytes,
      pk2: m.pk2!.bytes,
      nonce: m.nonce,
      metadata: {},
    };
    for (const ctx of SIGNATURE_CONTEXTS) {
      assert.notDeepEqual(Buffer.from(taggedBytes(ctx, mirror)), Buffer.from(signedBytes(m)));
      const asSign1 = encodeChallenge({ ...m, sign1: signTagged(initiatorIdentity, ctx, mirror) });
      assert.equal(refusalOf(() => verifyCertificate(asSign1)), 'bad-initiator-signature', ctx);
      const asSign2 = encodeChallenge({ ...m, sign2: signTagged(responderIdentity, ctx, mirror) });
      assert.equal(refusalOf(() => verifyCertificate(asSign2)), 'bad-responder-signature', ctx);
    }
  });

  test('a tagged signature over a body mirroring U is refused as sign2 of a STEP1, and the initiator signs nothing', () => {
    const responderIdentity = identityFrom(2, IdType.Person);
    const clock = new ManualClock();
    const initiator = startInitiator({ clock });
    const { step1 } = expectOk(startResponder({ clock, responderIdentity }).accept(initiator.init));
    const m = decoded(step1);
    const mirror = { version: 1, protocol: m.protocol, service: m.service, timestamp: m.timestamp, pk1: m.pk1.bytes, pk2: m.pk2!.bytes, nonce: m.nonce, metadata: {} };
    const forged = encodeChallenge({ ...m, sign2: signTagged(responderIdentity, 'vaultysclaw/rpc-request/v1', mirror) });
    assert.equal(refusalOf(() => initiator.respond(forged)), 'bad-responder-signature');
    assert.equal(initiator.state, 'error');
  });

  test('a certificate’s sign1 does not verify as a tagged signature of U’s content under any context', () => {
    const run = runHonestHandshake();
    const m = decoded(run.complete);
    const content = { version: 1, protocol: m.protocol, service: m.service, timestamp: m.timestamp, pk1: m.pk1.bytes, pk2: m.pk2!.bytes, nonce: m.nonce, metadata: {} };
    assert.ok(run.initiatorIdentity.id.verifyChallenge(signedBytes(m), m.sign1!), 'control: sign1 is valid over U');
    for (const ctx of SIGNATURE_CONTEXTS) assert.equal(verifyTagged(run.initiatorIdentity.id, ctx, content, m.sign1!), false, ctx);
  });
});

describe('sealed envelopes (verify the bytes, then decode)', () => {
  const ctx = 'vaultysclaw/intent/v1';
  const refusal = (envelope: SealedEnvelope, expectedCtx: SignatureContext = ctx, by = signer.id): OpenFailure => {
    const result = open(by, expectedCtx, envelope);
    if (result.ok) assert.fail('the envelope was opened');
    return result.reason;
  };

  test('a sealed body opens to the same body under its context and signer', () => {
    const result = open(signer.id, ctx, seal(signer, ctx, body));
    assert.ok(result.ok);
    assert.deepEqual(result.body, body);
  });

  test('an envelope opened under another context is refused as wrong-context', () => {
    assert.equal(refusal(seal(signer, ctx, body), 'vaultysclaw/result/v1'), 'wrong-context');
  });

  test('an envelope with a flipped payload byte, or opened as another signer, is refused as bad-signature', () => {
    const envelope = seal(signer, ctx, body);
    const last = envelope.payload.length - 1;
    const tampered = new Uint8Array(envelope.payload);
    tampered[last] = tampered[last]! ^ 0x01;
    assert.equal(refusal({ ...envelope, payload: tampered }), 'bad-signature');
    assert.equal(refusal(envelope, ctx, identityFrom(5).id), 'bad-signature');
  });

  test('signed bytes that are not canonical, or not exactly {ctx, body}, are refused as malformed', () => {
    const sealedBy = (payload: Uint8Array): SealedEnvelope => ({ payload, signature: signer.signChallenge(payload) });
    const honest = taggedBytes(ctx, { n: 1 });
    // {ctx, body} with body's integer written as cc 01: same reading, second encoding.
    const wide = concatBytes(honest.subarray(0, honest.length - 1), [0xcc, 0x01]);
    assert.equal(honest[honest.length - 1], 0x01);
    assert.equal(refusal(sealedBy(wide)), 'malformed');
    assert.equal(refusal(sealedBy(msgpackEncode({ body: { n: 1 }, ctx }))), 'malformed');
    assert.equal(refusal(sealedBy(msgpackEncode({ ctx, body: { n: 1 }, extra: 1 }))), 'malformed');
    assert.equal(refusal(sealedBy(concatBytes(honest, [0xc0]))), 'malformed');
  });

  test('a Challenger U with its valid sign1, presented as an envelope, is refused as malformed', () => {
    const run = runHonestHandshake();
    const m = decoded(run.complete);
    const envelope = { payload: signedBytes(m), signature: m.sign1! };
    assert.ok(run.initiatorIdentity.id.verifyChallenge(envelope.payload, envelope.signature), 'control: the signature holds');
    assert.equal(refusal(envelope, ctx, run.initiatorIdentity.id), 'malformed');
  });
});
