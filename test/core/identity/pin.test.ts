import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdType, SecretIdentity } from '../../../core/identity';
import { parsePin } from '../../../core/identity/pin';

const broker = SecretIdentity.generate(IdType.Machine);
const hex = broker.did.slice('did:vaultys:'.length);

test('parsePin: the DID, or its fingerprint in groups of four, any case and spacing, names the same DID', () => {
  const grouped = hex.toUpperCase().match(/.{4}/g)!.join(' ');
  for (const text of [broker.did, `  ${broker.did}\n`, grouped, hex, hex.toUpperCase(), grouped.replace(/ /g, '\t')]) assert.equal(parsePin(text), broker.did, text);
});

test('parsePin: anything else is no pin, not a guess', () => {
  for (const text of ['', hex.slice(1), `${hex}0`, `did:vaultys:${hex.toUpperCase()}`, `did:key:${hex}`, `did:vaultys:${hex.slice(1)}g`, hex.replace(/^./, 'g'), `did:vaultys: ${hex}`]) {
    assert.equal(parsePin(text), null, text);
  }
});
