import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GrantStore } from '../../../broker/store/grant-store';
import type { Storage } from '../../../broker/store/sql/storage';
import type { UsersTable } from '../../../broker/store/sql/tables';
import { BUDGETS } from '../../../core/budgets';
import type { DelegationBody } from '../../../core/wire/delegation';
import { backends } from './sql/support/backends';
import { envelope } from './support/sent-intents';
import { did, hexId } from './support/temp-database';

const grant = (n: number, user: string, issuedAt: number, expiresAt: number): DelegationBody => ({
  id: hexId(n), user, agent: '*', capabilities: ['read_file'], issuedAt, expiresAt,
});

/** A user row as UserStore would have written it, with `role`. */
const user = (storage: Storage, n: number, role: UsersTable['role']) =>
  storage.db.insertInto('users').values({ did: did(n), id_b64: 'x', name: `user ${n}`, role, created_at: 1, last_seen: 1 }).execute();

/** A role certificate of user `n`, id `id`, living until `expiresAt`. */
const roleCertificate = (id: number, n: number, expiresAt: number) => ({ id: hexId(id), user: did(n), expiresAt });

for (const backend of backends()) {
  describe(`GrantStore on ${backend.name}`, () => {
    test('a grant keeps its delegation certificate byte for byte, across a broker restart', async () => {
      const storage = await backend.open();
      const certificate = envelope();
      await new GrantStore(storage).add(grant(1, did(2), 10, 1_000), did(9), certificate);
      const reread = (await new GrantStore(storage).get(hexId(1)))!;
      assert.deepEqual([reread.user, reread.agent, reread.capabilities, reread.issuedBy], [did(2), '*', ['read_file'], did(9)]);
      assert.deepEqual(Buffer.from(reread.certificate.payload), certificate.payload);
      assert.deepEqual(Buffer.from(reread.certificate.signature), certificate.signature);
    });

    test("a user's active grants exclude expired and revoked ones, and other users'", async () => {
      const grants = new GrantStore(await backend.open());
      await grants.add(grant(1, did(2), 10, 1_000), did(9), envelope());
      await grants.add(grant(2, did(2), 10, 500), did(9), envelope());
      await grants.add(grant(3, did(2), 10, 2_000), did(9), envelope());
      await grants.add(grant(4, did(3), 10, 2_000), did(9), envelope());
      await grants.revoke(hexId(3), 20);
      assert.deepEqual((await grants.activeFor(did(2), 499)).map((g) => g.id), [hexId(1), hexId(2)]);
      assert.deepEqual((await grants.activeFor(did(2), 500)).map((g) => g.id), [hexId(1)]);
      assert.deepEqual(await grants.activeFor(did(2), 1_000), []);
    });

    test('a revocation moves the revocation list to a new version once; revoking again or an unknown grant does not', async () => {
      const storage = await backend.open();
      const grants = new GrantStore(storage);
      await grants.add(grant(1, did(2), 10, 1_000), did(9), envelope());
      assert.equal(await grants.version(), 0);
      assert.equal(await grants.revoke(hexId(1), 20), true);
      assert.equal(await grants.version(), 1);
      assert.equal(await grants.revoke(hexId(1), 21), false);
      assert.equal(await grants.revoke(hexId(5), 21), false);
      assert.equal(await grants.version(), 1);
      await grants.bumpVersion();
      assert.equal(await grants.version(), 2);
      assert.equal(await new GrantStore(storage).version(), 2);
    });

    test('concurrent revocations: each grant revoked once, the version moved once per revoked grant, a second store reads it', async () => {
      const storage = await backend.open();
      const grants = new GrantStore(storage);
      for (const n of [1, 2, 3]) await grants.add(grant(n, did(2), 10, 1_000), did(9), envelope());
      const revoked = await Promise.all([1, 1, 2, 2, 3, 3].map((n) => grants.revoke(hexId(n), 20)));
      assert.equal(revoked.filter(Boolean).length, 3);
      await Promise.all([grants.bumpVersion(), new GrantStore(storage).bumpVersion()]);
      assert.equal(await grants.version(), 5);
      assert.equal(await new GrantStore(storage).version(), 5);
    });

    test('the revoked ids listed are those not expired yet (an expired certificate is refused on its own)', async () => {
      const grants = new GrantStore(await backend.open());
      await grants.add(grant(1, did(2), 10, 1_000), did(9), envelope());
      await grants.add(grant(2, did(2), 10, 100), did(9), envelope());
      await grants.add(grant(3, did(2), 10, 1_000), did(9), envelope());
      await grants.revoke(hexId(1), 20);
      await grants.revoke(hexId(2), 20);
      assert.deepEqual((await grants.revokedIds(50)).sort(), [hexId(1), hexId(2)]);
      assert.deepEqual(await grants.revokedIds(100), [hexId(1)]);
    });

    test('certificates are replaced all or none: one unwritable replacement leaves every grant as it was', async () => {
      const grants = new GrantStore(await backend.open());
      const before = envelope();
      const second = envelope();
      await grants.add(grant(1, did(2), 10, 1_000), did(9), before);
      await grants.add(grant(2, did(2), 10, 1_000), did(9), second);
      const after = envelope();
      await assert.rejects(
        grants.replaceCertificates([
          { id: hexId(1), certificate: after, replaces: before },
          { id: hexId(2), certificate: { payload: after.payload, signature: null as unknown as Uint8Array }, replaces: second },
        ]),
      );
      assert.deepEqual(Buffer.from((await grants.get(hexId(1)))!.certificate.payload), before.payload);
      assert.equal(await grants.replaceCertificates([{ id: hexId(1), certificate: after, replaces: before }]), 1);
      assert.deepEqual(Buffer.from((await grants.get(hexId(1)))!.certificate.payload), after.payload);
    });

    test('a certificate is replaced only while it is still the one the caller read: a node re-signing late never puts back what another replaced', async () => {
      const grants = new GrantStore(await backend.open());
      const read = envelope();
      await grants.add(grant(1, did(2), 10, 1_000), did(9), read);
      const newer = envelope();
      assert.equal(await grants.replaceCertificates([{ id: hexId(1), certificate: newer, replaces: read }]), 1);
      // A second node read `read` before the first replaced it, and now writes its own re-signature over it.
      assert.equal(await grants.replaceCertificates([{ id: hexId(1), certificate: envelope(), replaces: read }]), 0);
      assert.deepEqual(Buffer.from((await grants.get(hexId(1)))!.certificate.signature), Buffer.from(newer.signature));
    });

    test("a demotion revokes the user's live role certificates, whichever store recorded them, once; the list names them until they expire, after a restart too", async () => {
      const storage = await backend.open();
      await user(storage, 2, 'admin');
      await user(storage, 3, 'admin');
      // Two nodes of a cluster: each its own store on the one database.
      const nodeA = new GrantStore(storage);
      const nodeB = new GrantStore(storage);
      assert.equal(await nodeA.addRoleCertificate(roleCertificate(1, 2, 1_000), 10), 'added');
      assert.equal(await nodeA.addRoleCertificate(roleCertificate(2, 2, 500), 10), 'added');
      assert.equal(await nodeA.addRoleCertificate(roleCertificate(3, 3, 1_000), 10), 'added');
      assert.equal(await nodeB.version(), 0);
      assert.equal(await nodeB.revokeRoleCertificates(did(2), 20), 2);
      assert.equal(await nodeB.version(), 1);
      assert.equal(await nodeA.version(), 1);
      assert.equal(await nodeA.revokeRoleCertificates(did(2), 21), 0, 'revoked once: hearing of it on another node moves nothing');
      assert.equal(await nodeA.version(), 1);
      assert.deepEqual((await nodeA.revokedIds(50)).sort(), [hexId(1), hexId(2)]);
      assert.deepEqual(await new GrantStore(storage).revokedIds(500), [hexId(1)], 'read back by a store that signed nothing, as after a restart');
      assert.deepEqual(await nodeA.revokedIds(1_000), []);
    });

    test('a role certificate is recorded only for a user who is still an owner or admin', async () => {
      const storage = await backend.open();
      await user(storage, 2, 'operator');
      await user(storage, 3, 'owner');
      await user(storage, 4, 'admin');
      await storage.db.updateTable('users').set({ removed_at: 5 }).where('did', '=', did(4)).execute();
      const grants = new GrantStore(storage);
      assert.equal(await grants.addRoleCertificate(roleCertificate(1, 2, 1_000), 10), 'no-role');
      assert.equal(await grants.addRoleCertificate(roleCertificate(2, 4, 1_000), 10), 'no-role');
      assert.equal(await grants.addRoleCertificate(roleCertificate(3, 5, 1_000), 10), 'no-role', 'an unknown user');
      assert.equal(await grants.addRoleCertificate(roleCertificate(4, 3, 1_000), 10), 'added');
    });

    test('BUDGETS.roleCertificatesLive role certificates live at most: the last one fits, the next is refused until one expires', async () => {
      const storage = await backend.open();
      await user(storage, 2, 'admin');
      const limit = BUDGETS.roleCertificatesLive.limit;
      // limit - 1 live, and one expired at 10 (deleted, not counted, by the next insert).
      const rows = Array.from({ length: limit }, (_, i) => ({ id: hexId(100 + i), user_did: did(2), expires_at: i === 0 ? 10 : 1_000 }));
      for (let i = 0; i < rows.length; i += 1_000) await storage.db.insertInto('role_certificates').values(rows.slice(i, i + 1_000)).execute();
      const grants = new GrantStore(storage);
      // Two nodes race for the last slot: the limit-th live one is recorded, the limit + 1-th refused.
      const raced = await Promise.all([grants.addRoleCertificate(roleCertificate(1, 2, 2_000), 10), new GrantStore(storage).addRoleCertificate(roleCertificate(2, 2, 2_000), 10)]);
      assert.deepEqual([...raced].sort(), ['added', 'full']);
      assert.equal(await grants.addRoleCertificate(roleCertificate(3, 2, 2_000), 10), 'full');
      assert.equal(await grants.revokeRoleCertificates(did(2), 20), limit, 'revoking frees nothing: a revoked one is listed until it expires');
      assert.equal(await grants.addRoleCertificate(roleCertificate(4, 2, 2_000), 20), 'full');
      assert.equal((await grants.revokedIds(20)).length, limit);
      assert.equal(await grants.addRoleCertificate(roleCertificate(4, 2, 2_000), 1_000), 'added', 'the others expired at 1000');
      assert.deepEqual(await grants.revokedIds(1_000), [hexId(raced[0] === 'added' ? 1 : 2)]);
    });

    test('pages are newest first, all grants or one user’s', async () => {
      const grants = new GrantStore(await backend.open());
      await grants.add(grant(1, did(2), 10, 1_000), did(9), envelope());
      await grants.add(grant(2, did(3), 30, 1_000), did(9), envelope());
      await grants.add(grant(3, did(2), 20, 1_000), did(9), envelope());
      assert.deepEqual((await grants.page(undefined, { limit: 10 }, (g) => g.id)).items, [hexId(2), hexId(3), hexId(1)]);
      assert.deepEqual((await grants.page(did(2), { limit: 10 }, (g) => g.id)).items, [hexId(3), hexId(1)]);
      assert.deepEqual((await grants.list()).map((g) => g.id), [hexId(2), hexId(3), hexId(1)]);
    });
  });
}
