import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { hashToken, InvitationStore } from '../../../broker/store/invitation-store';
import { backends, sqliteStorage } from './sql/support/backends';
import { did } from './support/temp-database';

const TOKEN = 'a-secret-invitation-token';

test('only the SHA-256 of the token is stored: the token itself is nowhere in the SQLite database file', async () => {
  const { storage, handle } = sqliteStorage();
  const record = await new InvitationStore(storage).create(TOKEN, 'operator', did(1), 1_000, 10);
  const files = [handle.name, `${handle.name}-wal`].filter(existsSync).map((file) => readFileSync(file));
  assert.ok(files.some((bytes) => bytes.includes(record.tokenHash)), 'the hash is written');
  assert.equal(files.some((bytes) => bytes.includes(TOKEN)), false);
});

for (const backend of backends()) {
  describe(`InvitationStore on ${backend.name}`, () => {
    test('only the SHA-256 of the token is stored: no column of the row holds the token', async () => {
      const storage = await backend.open();
      const record = await new InvitationStore(storage).create(TOKEN, 'operator', did(1), 1_000, 10);
      assert.equal(record.tokenHash, hashToken(TOKEN));
      assert.match(record.tokenHash, /^[0-9a-f]{64}$/);
      const rows = JSON.stringify(await storage.db.selectFrom('invitations').selectAll().execute());
      assert.ok(rows.includes(record.tokenHash));
      assert.equal(rows.includes(TOKEN), false);
    });

    test('an invitation is used once, by one user, bound to its role', async () => {
      const invitations = new InvitationStore(await backend.open());
      await invitations.create(TOKEN, 'reviewer', did(1), 1_000, 10);
      const used = (await invitations.use(TOKEN, did(2), 20))!;
      assert.deepEqual([used.role, used.usedBy, used.usedAt], ['reviewer', did(2), 20]);
      assert.equal(await invitations.use(TOKEN, did(3), 21), undefined);
      assert.equal(await invitations.use('another-token', did(3), 21), undefined);
    });

    test('two uses of one invitation at once: one consumes it, the other gets nothing', async () => {
      const invitations = new InvitationStore(await backend.open());
      await invitations.create(TOKEN, 'viewer', did(1), 1_000, 10);
      const uses = await Promise.all([2, 3].map((n) => invitations.use(TOKEN, did(n), 20)));
      const won = uses.flatMap((u) => (u ? [u.usedBy] : []));
      assert.equal(won.length, 1);
      assert.equal((await invitations.getByHash(hashToken(TOKEN)))!.usedBy, won[0]);
    });

    test('an invitation is refused at its expiry time and after; it was good the millisecond before', async () => {
      const invitations = new InvitationStore(await backend.open());
      await invitations.create(TOKEN, 'viewer', did(1), 1_000, 10);
      await invitations.create('second', 'viewer', did(1), 1_000, 10);
      assert.equal(await invitations.use(TOKEN, did(2), 1_000), undefined);
      assert.equal((await invitations.use('second', did(2), 999))?.usedBy, did(2));
    });

    test('a revoked invitation cannot be used; a used one cannot be revoked; revoking twice reports false', async () => {
      const invitations = new InvitationStore(await backend.open());
      const revoked = await invitations.create(TOKEN, 'viewer', did(1), 1_000, 10);
      const used = await invitations.create('second', 'viewer', did(1), 1_000, 10);
      assert.equal(await invitations.revoke(revoked.tokenHash, 20), true);
      assert.equal(await invitations.revoke(revoked.tokenHash, 21), false);
      assert.equal(await invitations.use(TOKEN, did(2), 30), undefined);
      await invitations.use('second', did(2), 30);
      assert.equal(await invitations.revoke(used.tokenHash, 40), false);
      assert.equal((await invitations.getByHash(used.tokenHash))!.revokedAt, null);
    });

    test('a page lists invitations newest first', async () => {
      const invitations = new InvitationStore(await backend.open());
      for (const n of [1, 3, 2]) await invitations.create(`t${n}`, 'viewer', did(1), 1_000, n);
      assert.deepEqual((await invitations.page({ limit: 10 }, (r) => r.createdAt)).items, [3, 2, 1]);
    });
  });
}
