import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UserStore } from '../../../broker/store/user-store';
import type { Role } from '../../../core/rpc/roles';
import { did, tempBrokerDatabase } from './support/temp-database';

const person = (n: number, role: Role, name = `user ${n}`) => ({ did: did(n), idBase64: 'AA==', name, role, invitedBy: null });

describe('UserStore (real SQLite file)', () => {
  test('a removed user keeps their record and name but has no role; they cannot be given one again', () => {
    const store = tempBrokerDatabase();
    const users = new UserStore(store.db);
    users.add(person(1, 'owner'), 10);
    users.add(person(2, 'operator'), 20);
    assert.equal(users.roleOf(did(2)), 'operator');
    assert.equal(users.remove(did(2), 30, did(1)), true);
    assert.equal(users.roleOf(did(2)), undefined);
    assert.equal(users.active(did(2)), undefined);
    assert.deepEqual([users.get(did(2))!.removedAt, users.get(did(2))!.roleSetBy], [30, did(1)]);
    assert.equal(users.setRole(did(2), 'admin', did(1)), false);
    assert.equal(users.remove(did(2), 40, did(1)), false);
    assert.equal(users.rename(did(2), 'new name'), false);
    assert.deepEqual(users.removedDids(), [did(2)]);
    assert.deepEqual(users.names(), [{ did: did(1), name: 'user 1' }, { did: did(2), name: 'user 2' }]);
    assert.equal(new UserStore(store.reopen()).roleOf(did(2)), undefined);
  });

  test('a role change is seen at once by the next RBAC read, with who made it', () => {
    const { db } = tempBrokerDatabase();
    const users = new UserStore(db);
    users.add(person(1, 'viewer'), 10);
    assert.equal(users.roleOf(did(1)), 'viewer');
    assert.equal(users.setRole(did(1), 'admin', did(9)), true);
    assert.equal(users.roleOf(did(1)), 'admin');
    assert.equal(users.get(did(1))!.roleSetBy, did(9));
    assert.equal(users.roleOf(did(5)), undefined);
    users.add(person(5, 'reviewer'), 20);
    assert.equal(users.roleOf(did(5)), 'reviewer', 'an unknown user asked about before joining has a role once added');
  });

  test('a transaction that throws rolls back its writes, and no role read inside it outlives it', () => {
    const { db } = tempBrokerDatabase();
    const users = new UserStore(db);
    users.add(person(1, 'viewer'), 10);
    assert.throws(() =>
      users.transaction(() => {
        users.setRole(did(1), 'owner', did(1));
        assert.equal(users.roleOf(did(1)), 'owner');
        throw new Error('audit write failed');
      }),
    );
    assert.equal(users.roleOf(did(1)), 'viewer');
  });

  test('names are unique: a second user cannot take a name in use', () => {
    const { db } = tempBrokerDatabase();
    const users = new UserStore(db);
    users.add(person(1, 'owner', 'alice'), 10);
    assert.throws(() => users.add(person(2, 'viewer', 'alice'), 20), /UNIQUE/);
    users.add(person(2, 'viewer', 'bob'), 20);
    assert.throws(() => users.rename(did(2), 'alice'), /UNIQUE/);
  });

  test('a login records the visit and never changes the name', () => {
    const { db } = tempBrokerDatabase();
    const users = new UserStore(db);
    users.add(person(1, 'owner', 'alice'), 10);
    users.touch(did(1), 99);
    assert.deepEqual([users.get(did(1))!.lastSeen, users.get(did(1))!.name], [99, 'alice']);
  });

  test('isEmpty and hasUsersBesides tell a fresh broker from one that had other users', () => {
    const { db } = tempBrokerDatabase();
    const users = new UserStore(db);
    assert.equal(users.isEmpty(), true);
    assert.equal(users.hasUsersBesides(null), false);
    users.add(person(1, 'owner'), 10);
    assert.equal(users.isEmpty(), false);
    assert.equal(users.hasUsersBesides(did(1)), false);
    assert.equal(users.hasUsersBesides(null), true);
    users.add(person(2, 'viewer'), 20);
    users.remove(did(2), 30, did(1));
    assert.equal(users.hasUsersBesides(did(1)), true, 'a removed user still counts');
  });

  test('pages and the full list are oldest first', () => {
    const { db } = tempBrokerDatabase();
    const users = new UserStore(db);
    for (const n of [3, 1, 2]) users.add(person(n, 'viewer'), n * 10);
    assert.deepEqual(users.page({ limit: 2 }, (u) => u.name).items, ['user 1', 'user 2']);
    assert.deepEqual(users.list().map((u) => u.name), ['user 1', 'user 2', 'user 3']);
  });
});
