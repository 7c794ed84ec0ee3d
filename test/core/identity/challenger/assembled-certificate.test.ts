import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyCertificate } from '../../../../core/identity';
import { assembleCertificate } from '../../../../core/identity/challenger/assembled-certificate';
import { decoded, expectOk, identityFrom, runHonestHandshake, T0 } from '../support/handshake';

test('the certificate a side assembles names each party with its own id and metadata, from the COMPLETE message as is', () => {
  const run = runHonestHandshake({ initiatorMetadata: { agent: 'a1' }, responderMetadata: { role: 'operator' }, initiatorIdentity: identityFrom(7) });
  const message = decoded(run.complete);
  const certificate = assembleCertificate(message, run.complete);
  assert.equal(certificate.bytes, run.complete);
  assert.ok(certificate.initiator.equals(run.initiatorIdentity.id));
  assert.ok(certificate.responder.equals(run.responderIdentity.id));
  assert.deepEqual(certificate.initiatorMetadata, { agent: 'a1' });
  assert.deepEqual(certificate.responderMetadata, { role: 'operator' });
  assert.equal(certificate.timestamp, T0);
  assert.deepEqual(certificate.nonce, message.nonce);
  assert.equal(certificate.protocol, message.protocol);
  assert.equal(certificate.service, message.service);
});

test('both sides and an outside verifier assemble the same certificate from the same bytes', () => {
  const run = runHonestHandshake({ initiatorMetadata: { agent: 'a1' }, responderMetadata: { role: 'operator' } });
  const fromOutside = expectOk(verifyCertificate(run.complete));
  for (const side of [run.initiatorCertificate, run.responderCertificate]) {
    assert.deepEqual({ ...side, initiator: side.initiator.did, responder: side.responder.did }, { ...fromOutside, initiator: fromOutside.initiator.did, responder: fromOutside.responder.did });
  }
});
