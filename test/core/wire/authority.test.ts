import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdType, SecretIdentity } from '../../../core/identity';
import { BrokerCertificateBody } from '../../../core/wire/authority';

test('a broker certificate carries the certified id whole: 77 bytes, not a DID nor a truncated id', () => {
  const root = SecretIdentity.generate(IdType.Organization);
  const broker = SecretIdentity.generate(IdType.Machine);
  const body = { serial: 1, root: root.did, broker: broker.id.bytes, issuedAt: 1, expiresAt: 2, supersedes: null };
  assert.equal(broker.id.bytes.length, 77);
  assert.ok(BrokerCertificateBody.safeParse(body).success);
  assert.equal(BrokerCertificateBody.safeParse({ ...body, broker: broker.id.bytes.subarray(0, 76) }).success, false);
  assert.equal(BrokerCertificateBody.safeParse({ ...body, broker: broker.did }).success, false);
  assert.equal(BrokerCertificateBody.safeParse({ ...body, serial: 0 }).success, false, 'serials start at 1');
  assert.equal(BrokerCertificateBody.safeParse({ ...body, supersedes: { did: broker.did, id: new Uint8Array(78), delegationsValidUntil: 1 } }).success, false);
});
