import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GrantStore } from '../../../broker/store/grant-store';
import type { DelegationBody } from '../../../core/wire/delegation';
import { envelope } from './support/sent-intents';
import { did, hexId, tempBrokerDatabase } from './support/temp-database';

const grant = (n: number, user: string, issuedAt: number, expiresAt: number): DelegationBody => ({
  id: hexId(n), user, agent: '*', capabilities: ['read_file'], issuedAt, expiresAt,
});

describe('GrantStore (real SQLite file)', () => {
  test('a grant keeps its delegation certificate byte for byte, across a broker restart', () => {
    const store = tempBrokerDatabase();
    const certificate = envelope();
    new GrantStore(store.db).add(grant(1, did(2), 10, 1_000), did(9), certificate);
    const reread = new GrantStore(store.reopen()).get(hexId(1))!;
    assert.deepEqual([reread.user, reread.agent, reread.capabilities, reread.issuedBy], [did(2), '*', ['read_file'], did(9)]);
    assert.deepEqual(Buffer.from(reread.certificate.payload), certificate.payload);
    assert.deepEqual(Buffer.from(reread.certificate.signature), certificate.signature);
  });

  test("a user's active grants exclude expired and revoked ones, and other users'", () => {
    const { db } = tempBrokerDatabase();
    const grants = new GrantStore(db);
    grants.add(grant(1, did(2), 10, 1_000), did(9), envelope());
    grants.add(grant(2, did(2), 10, 500), did(9), envelope());
    grants.add(grant(3, did(2), 10, 2_000), did(9), envelope());
    grants.add(grant(4, did(3), 10, 2_000), did(9), envelope());
    grants.revoke(hexId(3), 20);
    assert.deepEqual(grants.activeFor(did(2), 499).map((g) => g.id), [hexId(1), hexId(2)]);
    assert.deepEqual(grants.activeFor(did(2), 500).map((g) => g.id), [hexId(1)]);
    assert.deepEqual(grants.activeFor(did(2), 1_000), []);
  });

  test('a revocation moves the revocation list to a new version once; revoking again or an unknown grant does not', () => {
    const store = tempBrokerDatabase();
    const grants = new GrantStore(store.db);
    grants.add(grant(1, did(2), 10, 1_000), did(9), envelope());
    assert.equal(grants.version(), 0);
    assert.equal(grants.revoke(hexId(1), 20), true);
    assert.equal(grants.version(), 1);
    assert.equal(grants.revoke(hexId(1), 21), false);
    assert.equal(grants.revoke(hexId(5), 21), false);
    assert.equal(grants.version(), 1);
    grants.bumpVersion();
    assert.equal(grants.version(), 2);
    assert.equal(new GrantStore(store.reopen()).version(), 2);
  });

  test('the revoked ids listed are those not expired yet (an expired certificate is refused on its own)', () => {
    const { db } = tempBrokerDatabase();
    const grants = new GrantStore(db);
    grants.add(grant(1, did(2), 10, 1_000), did(9), envelope());
    grants.add(grant(2, did(2), 10, 100), did(9), envelope());
    grants.add(grant(3, did(2), 10, 1_000), did(9), envelope());
    grants.revoke(hexId(1), 20);
    grants.revoke(hexId(2), 20);
    assert.deepEqual(grants.revokedIds(50).sort(), [hexId(1), hexId(2)]);
    assert.deepEqual(grants.revokedIds(100), [hexId(1)]);
  });

  test('certificates are replaced all or none: one unwritable replacement leaves every grant as it was', () => {
    const { db } = tempBrokerDatabase();
    const grants = new GrantStore(db);
    const before = envelope();
    grants.add(grant(1, did(2), 10, 1_000), did(9), before);
    grants.add(grant(2, did(2), 10, 1_000), did(9), envelope());
    const after = envelope();
    assert.throws(() =>
      grants.replaceCertificates([
        { id: hexId(1), certificate: after },
        { id: hexId(2), certificate: { payload: after.payload, signature: null as unknown as Uint8Array } },
      ]),
    );
    assert.deepEqual(Buffer.from(grants.get(hexId(1))!.certificate.payload), before.payload);
    grants.replaceCertificates([{ id: hexId(1), certificate: after }]);
    assert.deepEqual(Buffer.from(grants.get(hexId(1))!.certificate.payload), after.payload);
  });

  test('pages are newest first, all grants or one user’s', () => {
    const { db } = tempBrokerDatabase();
    const grants = new GrantStore(db);
    grants.add(grant(1, did(2), 10, 1_000), did(9), envelope());
    grants.add(grant(2, did(3), 30, 1_000), did(9), envelope());
    grants.add(grant(3, did(2), 20, 1_000), did(9), envelope());
    assert.deepEqual(grants.page(undefined, { limit: 10 }, (g) => g.id).items, [hexId(2), hexId(3), hexId(1)]);
    assert.deepEqual(grants.page(did(2), { limit: 10 }, (g) => g.id).items, [hexId(3), hexId(1)]);
    assert.deepEqual(grants.list().map((g) => g.id), [hexId(2), hexId(3), hexId(1)]);
  });
});
