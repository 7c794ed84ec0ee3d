// vaultys/vaultysid go/test/compatibility/go-idmanager-vectors.json: ids and DIDs, file signatures, signChallenge.
//
// Skipped on purpose: `storage`, `backup`, `prf` and `keyDerivation` are Go-only (not TS-compatible, spec §8 #4),
// `apps` is IdManager registration data with placeholder server ids, and `files.encryption` needs NaCl secretbox,
// which core/identity does not implement (spec §6: file encryption is out of our identity layer).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { IdType } from '../../../../core/identity';
import { hex, readVectors, unhex } from '../../../support/interop';
import { identityFromEntropy, idTypeOf, once, utf8 } from './support';

interface FileData {
  name: string;
  type: string;
  dataHex: string;
  dataBase64: string;
}

interface IdManagerVectors {
  identity: { entropy: string; type: number; did: string };
  contacts: { contacts: { entropy: string; did: string; idBytes: string }[] };
  files: { signing: { file: FileData; signature: { challenge: string; signature: string } } };
  challenge: Record<'protocolV0' | 'protocolV1', { challenge: string; signature: string; version: number }>;
}

const vectors = readVectors<IdManagerVectors>('go-idmanager-vectors.json');
const owner = once(() => identityFromEntropy(vectors.identity.entropy, vectors.identity.type as IdType));

const FILE_CHALLENGE = /^vaultys:\/\/signfile\?hash=([0-9a-f]{64})&timestamp=([0-9]+)$/;

describe('Go IdManager vectors (go-idmanager-vectors.json)', () => {
  test('derives the owner DID from its entropy as a PERSON', () => {
    assert.equal(vectors.identity.type, IdType.Person);
    assert.equal(owner().did, vectors.identity.did);
  });

  vectors.contacts.contacts.forEach((contact, i) => {
    test(`derives contact ${i + 1}'s id and DID from its entropy`, () => {
      // Contacts carry no type field: their recorded id names it (all are PERSON here).
      const derived = identityFromEntropy(contact.entropy, idTypeOf(unhex(contact.idBytes)));
      assert.equal(hex(derived.id.bytes), contact.idBytes);
      assert.equal(derived.did, contact.did);
    });
  });

  test('the file-signature challenge is vaultys://signfile with the SHA-256 of the file and a ms timestamp', () => {
    const { file, signature } = vectors.files.signing;
    const data = unhex(file.dataHex);
    assert.equal(Buffer.from(data).toString('base64'), file.dataBase64);
    const challenge = Buffer.from(unhex(signature.challenge)).toString('utf8');
    const match = FILE_CHALLENGE.exec(challenge);
    assert.ok(match, `unexpected challenge shape: ${challenge}`);
    assert.equal(match[1], createHash('sha256').update(data).digest('hex'));
    const timestamp = Number(match[2]);
    assert.ok(Number.isSafeInteger(timestamp) && timestamp > 1e12, `timestamp ${match[2]} is not in milliseconds`);
    // Exactly the two query parameters the verifier expects (spec §4.6).
    assert.deepEqual([...new URL(challenge).searchParams.keys()], ['hash', 'timestamp']);
  });

  test('the file signature is signChallenge over the challenge: it verifies and is reproduced byte for byte', () => {
    const { challenge, signature } = vectors.files.signing.signature;
    assert.ok(owner().id.verifyChallenge(unhex(challenge), unhex(signature)));
    assert.equal(hex(owner().signChallenge(unhex(challenge))), signature);
    // The signature binds the hash: the same challenge for other file bytes does not verify.
    const otherFile = Buffer.from(unhex(challenge)).toString('utf8').replace(/hash=[0-9a-f]{64}/, `hash=${'0'.repeat(64)}`);
    assert.equal(owner().id.verifyChallenge(utf8(otherFile), unhex(signature)), false);
  });

  for (const key of ['protocolV0', 'protocolV1'] as const) {
    test(`challenge.${key} is signChallenge (spec §4.2), reproduced byte for byte and verified`, () => {
      const { challenge, signature } = vectors.challenge[key];
      assert.equal(hex(owner().signChallenge(unhex(challenge))), signature);
      assert.ok(owner().id.verifyChallenge(unhex(challenge), unhex(signature)));
      assert.equal(owner().id.verifyRaw(unhex(challenge), unhex(signature)), false, 'it is not a raw signature');
    });
  }
});
