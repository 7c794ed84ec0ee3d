import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { hashToken, InvitationStore } from '../../../broker/store/invitation-store';
import { did, tempBrokerDatabase } from './support/temp-database';

const TOKEN = 'a-secret-invitation-token';

describe('InvitationStore (real SQLite file)', () => {
  test('only the SHA-256 of the token is stored: the token itself is nowhere in the database file', () => {
    const { db } = tempBrokerDatabase();
    const record = new InvitationStore(db).create(TOKEN, 'operator', did(1), 1_000, 10);
    assert.equal(record.tokenHash, hashToken(TOKEN));
    assert.match(record.tokenHash, /^[0-9a-f]{64}$/);
    const files = [db.name, `${db.name}-wal`].filter(existsSync).map((file) => readFileSync(file));
    assert.ok(files.some((bytes) => bytes.includes(record.tokenHash)), 'the hash is written');
    assert.equal(files.some((bytes) => bytes.includes(TOKEN)), false);
  });

  test('an invitation is used once, by one user, bound to its role', () => {
    const { db } = tempBrokerDatabase();
    const invitations = new InvitationStore(db);
    invitations.create(TOKEN, 'reviewer', did(1), 1_000, 10);
    const used = invitations.use(TOKEN, did(2), 20)!;
    assert.deepEqual([used.role, used.usedBy, used.usedAt], ['reviewer', did(2), 20]);
    assert.equal(invitations.use(TOKEN, did(3), 21), undefined);
    assert.equal(invitations.use('another-token', did(3), 21), undefined);
  });

  test('an invitation is refused at its expiry time and after; it was good the millisecond before', () => {
    const { db } = tempBrokerDatabase();
    const invitations = new InvitationStore(db);
    invitations.create(TOKEN, 'viewer', did(1), 1_000, 10);
    invitations.create('second', 'viewer', did(1), 1_000, 10);
    assert.equal(invitations.use(TOKEN, did(2), 1_000), undefined);
    assert.equal(invitations.use('second', did(2), 999)?.usedBy, did(2));
  });

  test('a revoked invitation cannot be used; a used one cannot be revoked; revoking twice reports false', () => {
    const { db } = tempBrokerDatabase();
    const invitations = new InvitationStore(db);
    const revoked = invitations.create(TOKEN, 'viewer', did(1), 1_000, 10);
    const used = invitations.create('second', 'viewer', did(1), 1_000, 10);
    assert.equal(invitations.revoke(revoked.tokenHash, 20), true);
    assert.equal(invitations.revoke(revoked.tokenHash, 21), false);
    assert.equal(invitations.use(TOKEN, did(2), 30), undefined);
    invitations.use('second', did(2), 30);
    assert.equal(invitations.revoke(used.tokenHash, 40), false);
    assert.equal(invitations.getByHash(used.tokenHash)!.revokedAt, null);
  });

  test('a page lists invitations newest first', () => {
    const { db } = tempBrokerDatabase();
    const invitations = new InvitationStore(db);
    for (const n of [1, 3, 2]) invitations.create(`t${n}`, 'viewer', did(1), 1_000, n);
    assert.deepEqual(invitations.page({ limit: 10 }, (r) => r.createdAt).items, [3, 2, 1]);
  });
});
