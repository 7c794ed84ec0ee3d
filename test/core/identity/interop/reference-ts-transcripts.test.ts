// Handshakes, signChallenge samples, ids and forgery probes recorded by running the reference TypeScript
// implementation (vaultys/vaultysid HEAD cce99fb). v1 transcripts must verify and re-encode byte for byte; the
// VaultysClaw-default v0 transcript must be refused, because v0 signs no metadata (spec §5.8, §5.10 rule 3).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  challengeDigest,
  decodeChallenge,
  encodeChallenge,
  SecretIdentity,
  signedBytes,
  VaultysId,
  verifyCertificate,
  type ChallengeMessage,
} from '../../../../core/identity';
import { hex, readVectors, unhex } from '../../../support/interop';
import { assertAccepted, assertIdentityError, assertRejected, runHandshake } from './support';

interface RecordedParty {
  secretHex: string;
  idHexAtVersion: string;
  didAtVersion: string;
}

interface TranscriptCase {
  name: string;
  version: 'default' | 1;
  protocol: string;
  service: string;
  initiator: RecordedParty;
  responder: RecordedParty;
  metadataInitiator: unknown;
  metadataResponder: unknown;
  c1Hex: string;
  c2Hex: string;
  c3Hex: string;
  unsignedHex: string;
  upstreamVerifyCertificate: boolean;
}

type SignChallengeSample = { signerSecretHex: string; signChallenge: string } & (
  | { messageHex: string }
  | { messageString: string; note: string }
);

interface RecordedId {
  secretHex: string;
  idHex: string;
  did: string;
  fingerprint: string;
  didDocument: Record<string, unknown>;
  v0IdHex: string;
  v0Did: string;
}

interface TranscriptVectors {
  cases: TranscriptCase[];
  signChallenge: SignChallengeSample[];
  ids: RecordedId[];
  metadataForgeryProbe: Record<string, { forgedMetadataCertHex: string; upstreamVerifies: boolean }>;
}

const vectors = readVectors<TranscriptVectors>('reference-ts-transcripts.json');
const V0_CASE = 'vaultysclaw-default-v0';

const messages = (c: TranscriptCase) =>
  [
    ['C1', 'init', unhex(c.c1Hex)],
    ['C2', 'step1', unhex(c.c2Hex)],
    ['C3', 'complete', unhex(c.c3Hex)],
  ] as const;

/** In the vectors a side without metadata is `null`; on the wire (and for us) it is absent. */
const metadataOf = (recorded: unknown): unknown => (recorded === null ? undefined : recorded);

function decoded(bytes: Uint8Array, what: string): ChallengeMessage {
  return assertAccepted(decodeChallenge(bytes), what);
}

/**
 * Upstream turns a string message into bytes with the browser `buffer`
 * polyfill's hex decoder, which stops at the first pair that is not hex
 * (spec §4.4): "example.com" → 0e 0a ("e", "a"; "pl" stops it).
 */
function upstreamHexOfString(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i + 1 < text.length; i += 2) {
    const byte = parseInt(text.slice(i, i + 2), 16);
    if (Number.isNaN(byte)) break;
    out.push(byte);
  }
  return Uint8Array.from(out);
}

describe('reference TypeScript transcripts', () => {
  for (const c of vectors.cases.filter((x) => x.name !== V0_CASE)) {
    describe(`${c.name} (v1, ${c.protocol}/${c.service})`, () => {
      test('derives both parties from their secrets to the recorded v1 ids and DIDs', () => {
        assert.equal(c.version, 1);
        for (const side of [c.initiator, c.responder]) {
          const identity = SecretIdentity.fromSecret(unhex(side.secretHex));
          assert.equal(hex(identity.id.bytes), side.idHexAtVersion);
          assert.equal(identity.did, side.didAtVersion);
        }
      });

      test('decodes C1, C2, C3 as INIT, STEP1, COMPLETE and re-encodes each byte for byte', () => {
        for (const [label, state, bytes] of messages(c)) {
          const m = decoded(bytes, label);
          assert.equal(m.state, state, label);
          assert.equal(hex(encodeChallenge(m)), hex(bytes), `${label} does not re-encode to itself`);
        }
      });

      test('STEP1 and COMPLETE sign the same U, metadata of both sides included', () => {
        assert.equal(hex(signedBytes(decoded(unhex(c.c2Hex), 'C2'))), c.unsignedHex);
        assert.equal(hex(signedBytes(decoded(unhex(c.c3Hex), 'C3'))), c.unsignedHex);
      });

      test('verifies the certificate and returns both ids and both metadata maps as signed', () => {
        assert.equal(c.upstreamVerifyCertificate, true);
        const cert = assertAccepted(verifyCertificate(unhex(c.c3Hex)), 'C3');
        assert.equal(hex(cert.initiator.bytes), c.initiator.idHexAtVersion);
        assert.equal(hex(cert.responder.bytes), c.responder.idHexAtVersion);
        assert.equal(cert.protocol, c.protocol);
        assert.equal(cert.service, c.service);
        assert.deepEqual(cert.initiatorMetadata, metadataOf(c.metadataInitiator));
        assert.deepEqual(cert.responderMetadata, metadataOf(c.metadataResponder));
        const wire = decoded(unhex(c.c3Hex), 'C3').metadata;
        assert.equal('pk1' in wire, c.metadataInitiator !== null);
        assert.equal('pk2' in wire, c.metadataResponder !== null);
      });

      test('regenerates C1, C2 and C3 byte for byte from the recorded clock, nonces and metadata', () => {
        const init = decoded(unhex(c.c1Hex), 'C1');
        const nonce = decoded(unhex(c.c2Hex), 'C2').nonce;
        assert.equal(hex(nonce.subarray(0, 16)), hex(init.nonce));
        const run = runHandshake({
          initiator: SecretIdentity.fromSecret(unhex(c.initiator.secretHex)),
          responder: SecretIdentity.fromSecret(unhex(c.responder.secretHex)),
          protocol: c.protocol,
          service: c.service,
          timestamp: init.timestamp,
          initiatorNonce: nonce.slice(0, 16),
          responderNonce: nonce.slice(16, 32),
          initiatorMetadata: metadataOf(c.metadataInitiator),
          responderMetadata: metadataOf(c.metadataResponder),
        });
        assert.equal(hex(run.init), c.c1Hex);
        assert.equal(hex(run.step1), c.c2Hex);
        assert.equal(hex(run.complete), c.c3Hex);
        assert.equal(hex(run.responderCertificate.bytes), c.c3Hex);
      });
    });
  }

  describe(`${V0_CASE} (upstream VaultysClaw's default: Challenger v0)`, () => {
    const c = vectors.cases.find((x) => x.name === V0_CASE);

    test('refuses C1, C2 and C3 as unsupported-version, although upstream verifies the certificate', () => {
      assert.ok(c, `the vector file has no ${V0_CASE} case`);
      assert.equal(c.version, 'default');
      assert.equal(c.upstreamVerifyCertificate, true);
      for (const [label, , bytes] of messages(c)) assertRejected(decodeChallenge(bytes), 'unsupported-version', label);
      assertRejected(verifyCertificate(unhex(c.c3Hex)), 'unsupported-version');
    });

    test('its secrets load, but to the v1 ids; the recorded v0 ids are refused as unsupported-version', () => {
      assert.ok(c, `the vector file has no ${V0_CASE} case`);
      for (const side of [c.initiator, c.responder]) {
        const ours = SecretIdentity.fromSecret(unhex(side.secretHex)).id.bytes;
        const v0 = unhex(side.idHexAtVersion);
        // Same type and keys; only the version byte (offset 4, spec §2.2) differs.
        assert.equal(v0[4], 0);
        assert.equal(ours[4], 1);
        assert.equal(hex(ours.subarray(5)), hex(v0.subarray(5)));
        assertIdentityError(() => VaultysId.fromBytes(v0), 'unsupported-version');
      }
    });
  });

  describe('signChallenge samples (spec §4.2)', () => {
    vectors.signChallenge.forEach((sample, i) => {
      const label =
        'messageHex' in sample
          ? `${sample.messageHex.length / 2}-byte message ${JSON.stringify(Buffer.from(unhex(sample.messageHex)).toString('utf8'))}`
          : `string ${JSON.stringify(sample.messageString)}`;
      test(`reproduces sample ${i + 1} (${label}) byte for byte, and it verifies`, () => {
        const signer = SecretIdentity.fromSecret(unhex(sample.signerSecretHex));
        // The vector's note says "example.com" became an empty buffer; the recorded signature is in fact over
        // 0e 0a, the browser-polyfill reading of spec §4.4. Our API takes bytes only, so the test passes those.
        const message = 'messageHex' in sample ? unhex(sample.messageHex) : upstreamHexOfString(sample.messageString);
        assert.equal(hex(signer.signChallenge(message)), sample.signChallenge);
        assert.ok(signer.id.verifyChallenge(message, unhex(sample.signChallenge)));
      });
    });

    test('signChallenge refuses a string message instead of hex-decoding it (spec §4.4)', () => {
      const sample = vectors.signChallenge.find((s) => 'messageString' in s);
      assert.ok(sample && 'messageString' in sample, 'the vector file has no string sample');
      const signer = SecretIdentity.fromSecret(unhex(sample.signerSecretHex));
      assert.throws(() => signer.signChallenge(sample.messageString as unknown as Uint8Array), TypeError);
      assert.throws(() => challengeDigest(sample.messageString as unknown as Uint8Array), TypeError);
      assert.equal(signer.id.verifyChallenge(sample.messageString as unknown as Uint8Array, unhex(sample.signChallenge)), false);
    });
  });

  describe('ids', () => {
    for (const recorded of vectors.ids) {
      test(`${recorded.did}: id, DID, fingerprint and DID document match the reference`, () => {
        assert.equal(hex(SecretIdentity.fromSecret(unhex(recorded.secretHex)).id.bytes), recorded.idHex);
        const id = VaultysId.fromBytes(unhex(recorded.idHex));
        assert.equal(id.did, recorded.did);
        assert.equal(id.fingerprint, recorded.fingerprint);
        assert.deepEqual(id.didDocument(), recorded.didDocument);
      });

      test(`${recorded.did}: its v0 form (${recorded.v0Did}) is refused as unsupported-version`, () => {
        assertIdentityError(() => VaultysId.fromBytes(unhex(recorded.v0IdHex)), 'unsupported-version');
      });
    }
  });

  describe('metadata forgery probes', () => {
    const probe = (name: string) => {
      const p = vectors.metadataForgeryProbe[name];
      assert.ok(p, `the vector file has no forgery probe for ${name}`);
      return p;
    };

    test('refuses the v0 certificate with rewritten metadata, which upstream accepts, as unsupported-version', () => {
      const p = probe(V0_CASE);
      assert.equal(p.upstreamVerifies, true);
      assertRejected(verifyCertificate(unhex(p.forgedMetadataCertHex)), 'unsupported-version');
    });

    test('refuses the v1 certificate with rewritten metadata on a signature, as upstream does', () => {
      const p = probe('broker-agent-v1-rich-metadata');
      assert.equal(p.upstreamVerifies, false);
      const result = verifyCertificate(unhex(p.forgedMetadataCertHex));
      assertRejected(result);
      assert.ok(!result.ok && ['bad-responder-signature', 'bad-initiator-signature'].includes(result.reason), `reason: ${!result.ok && result.reason}`);
      // The forgery is well-formed: it decodes, only its signatures fail.
      assert.equal(decoded(unhex(p.forgedMetadataCertHex), 'forged C3').state, 'complete');
    });
  });
});
