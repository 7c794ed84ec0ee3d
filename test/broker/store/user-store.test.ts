import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UserStore } from '../../../broker/store/user-store';
import { hashToken, InvitationStore } from '../../../broker/store/invitation-store';
import { PAGE_ENVELOPE_BYTES } from '../../../broker/store/keyset-page';
import { BUDGETS } from '../../../core/budgets';
import type { Role } from '../../../core/rpc/roles';
import { backends } from './sql/support/backends';
import { together } from './sql/support/together';
import { did } from './support/temp-database';

const person = (n: number, role: Role, name = `user ${n}`) => ({ did: did(n), idBase64: 'AA==', name, role, invitedBy: null });
const newcomer = (n: number, role: Role) => ({ did: did(n), idBase64: 'AA==', role, invitedBy: null });
/** What the user service does: the name asked for, or it with the DID beside it when another user holds it. */
const nameOrFingerprinted = (name: string, n: number) => (names: { did: string; name: string }[]) => (names.some((u) => u.name === name) ? `${name} (${n})` : name);
/** What a client receives: the page inside its JSON-RPC response. */
const responseBytes = (result: unknown) => Buffer.byteLength(JSON.stringify({ jsonrpc: '2.0', id: 2 ** 31, result }));

for (const backend of backends()) {
  describe(`UserStore on ${backend.name}`, () => {
    test('a removed user keeps their record and name but has no role; they cannot be given one again', async () => {
      const storage = await backend.open();
      const users = new UserStore(storage);
      await users.add(person(1, 'owner'), 10);
      await users.add(person(2, 'operator'), 20);
      assert.equal(await users.roleOf(did(2)), 'operator');
      assert.equal(await users.remove(did(2), 30, did(1)), true);
      assert.equal(await users.roleOf(did(2)), undefined);
      assert.equal(await users.active(did(2)), undefined);
      assert.deepEqual([(await users.get(did(2)))!.removedAt, (await users.get(did(2)))!.roleSetBy], [30, did(1)]);
      assert.equal(await users.setRole(did(2), 'admin', did(1)), false);
      assert.equal(await users.remove(did(2), 40, did(1)), false);
      assert.equal(await users.rename(did(2), 'new name'), 'gone');
      assert.deepEqual(await users.removedDids(), [did(2)]);
      assert.deepEqual(await users.names(), [{ did: did(1), name: 'user 1' }, { did: did(2), name: 'user 2' }]);
      assert.equal(await new UserStore(storage).roleOf(did(2)), undefined, 'a restarted broker reads the removal');
    });

    test('a role change is seen at once by the next RBAC read, with who made it', async () => {
      const users = new UserStore(await backend.open());
      await users.add(person(1, 'viewer'), 10);
      assert.equal(await users.roleOf(did(1)), 'viewer');
      assert.equal(await users.setRole(did(1), 'admin', did(9)), true);
      assert.equal(await users.roleOf(did(1)), 'admin');
      assert.equal((await users.get(did(1)))!.roleSetBy, did(9));
      assert.equal(await users.roleOf(did(5)), undefined);
      await users.add(person(5, 'reviewer'), 20);
      assert.equal(await users.roleOf(did(5)), 'reviewer', 'an unknown user asked about before joining has a role once added');
    });

    test('an enrolment that throws rolls back its writes, and no role read inside it outlives it', async () => {
      const storage = await backend.open();
      const users = new UserStore(storage);
      const invitations = new InvitationStore(storage);
      await users.add(person(1, 'owner'), 10);
      await invitations.create('token', 'admin', did(1), 1_000, 10);
      assert.equal(await users.roleOf(did(2)), undefined);
      const failing = users.enroll(newcomer(2, 'admin'), 20, {
        invitation: { store: invitations, token: 'token' },
        nameFor: () => {
          throw new Error('audit write failed');
        },
      });
      await assert.rejects(failing, /audit write failed/);
      assert.equal(await users.roleOf(did(2)), undefined);
      assert.equal((await invitations.getByHash(hashToken('token')))!.usedBy, null, 'the invitation consumed inside is given back');
    });

    test('names are unique: a second user cannot take a name in use', async () => {
      const users = new UserStore(await backend.open());
      await users.add(person(1, 'owner', 'alice'), 10);
      await assert.rejects(users.add(person(2, 'viewer', 'alice'), 20), /UNIQUE|duplicate key/);
      await users.add(person(2, 'viewer', 'bob'), 20);
      await assert.rejects(users.rename(did(2), 'alice'), /UNIQUE|duplicate key/);
    });

    test('a name with U+0000 is refused alike, stored nowhere, and the store goes on', async () => {
      const storage = await backend.open();
      const users = new UserStore(storage);
      const invitations = new InvitationStore(storage);
      await users.add(person(1, 'owner', 'alice'), 10);
      await invitations.create('token', 'viewer', did(1), 1_000, 10);
      const nul = /a user name contains a NUL character/;
      await assert.rejects(users.add(person(2, 'viewer', 'bo\u0000b'), 20), nul);
      await assert.rejects(users.rename(did(1), 'ali\u0000ce'), nul);
      await assert.rejects(users.enroll(newcomer(3, 'viewer'), 30, { invitation: { store: invitations, token: 'token' }, nameFor: () => '\u0000' }), nul);
      assert.equal((await invitations.getByHash(hashToken('token')))!.usedBy, null, 'the refused enrolment consumed nothing');
      assert.deepEqual(await users.names(), [{ did: did(1), name: 'alice' }]);
      const joined = await users.enroll(newcomer(3, 'viewer'), 40, { invitation: { store: invitations, token: 'token' }, nameFor: () => 'bob' });
      assert.deepEqual(joined.ok && [joined.user.name, joined.user.role], ['bob', 'viewer']);
    });

    test('a login records the visit and never changes the name', async () => {
      const users = new UserStore(await backend.open());
      await users.add(person(1, 'owner', 'alice'), 10);
      await users.touch(did(1), 99);
      assert.deepEqual([(await users.get(did(1)))!.lastSeen, (await users.get(did(1)))!.name], [99, 'alice']);
    });

    test('isEmpty and hasUsersBesides tell a fresh broker from one that had other users', async () => {
      const users = new UserStore(await backend.open());
      assert.equal(await users.isEmpty(), true);
      assert.equal(await users.hasUsersBesides(null), false);
      await users.add(person(1, 'owner'), 10);
      assert.equal(await users.isEmpty(), false);
      assert.equal(await users.hasUsersBesides(did(1)), false);
      assert.equal(await users.hasUsersBesides(null), true);
      await users.add(person(2, 'viewer'), 20);
      await users.remove(did(2), 30, did(1));
      assert.equal(await users.hasUsersBesides(did(1)), true, 'a removed user still counts');
    });

    test('pages and the full list are oldest first', async () => {
      const users = new UserStore(await backend.open());
      for (const n of [3, 1, 2]) await users.add(person(n, 'viewer'), n * 10);
      assert.deepEqual((await users.page({ limit: 2 }, (u) => u.name)).items, ['user 1', 'user 2']);
      const second = await users.page({ limit: 2, cursor: (await users.page({ limit: 2 }, (u) => u.name)).nextCursor! }, (u) => u.name);
      assert.deepEqual([second.items, second.nextCursor], [['user 3'], null]);
      assert.deepEqual((await users.list()).map((u) => u.name), ['user 1', 'user 2', 'user 3']);
    });

    test('BUDGETS.listResponseBytes: items that fill a page to the byte are one page; one byte more ends the page early with a cursor to the rest', async () => {
      const users = new UserStore(await backend.open());
      for (const n of [1, 2]) await users.add(person(n, 'viewer'), n);
      // Each item is a JSON string of the size chosen here: n characters cost n + 2 bytes, plus a comma.
      const first = 1000;
      const fill = BUDGETS.listResponseBytes.limit - PAGE_ENVELOPE_BYTES - (first + 3) - 3;
      const sized = (second: number) => (r: { did: string }) => 'x'.repeat(r.did === did(1) ? first : second);
      const atBound = await users.page({ limit: 10 }, sized(fill));
      assert.deepEqual([atBound.items.length, atBound.nextCursor], [2, null]);
      assert.ok(responseBytes(atBound) <= BUDGETS.listResponseBytes.limit, `${responseBytes(atBound)} bytes`);
      const overBound = await users.page({ limit: 10 }, sized(fill + 1));
      assert.equal(overBound.items.length, 1, 'the page ends before the item that would outgrow it');
      assert.ok(overBound.nextCursor);
      const rest = await users.page({ limit: 10, cursor: overBound.nextCursor }, sized(fill + 1));
      assert.deepEqual(rest.items.map((s) => s.length), [fill + 1], 'the item comes on the next page, not lost');
      assert.equal(rest.nextCursor, null);
    });

    describe('check-then-write at once (what a second broker node on the same database does too)', () => {
      test('two joins with one invitation: one user is added, the other is refused invitation-invalid, and both agree', async () => {
        const storage = await backend.open();
        const users = new UserStore(storage);
        const invitations = new InvitationStore(storage);
        await users.add(person(1, 'owner'), 10);
        await invitations.create('token', 'operator', did(1), 1_000, 10);
        const joins = await together(
          storage,
          'users',
          [2, 3].map((n) => () => users.enroll(newcomer(n, 'operator'), 20, { invitation: { store: invitations, token: 'token' }, nameFor: () => `user ${n}` })),
        );
        const won = joins.flatMap((j) => (j.ok ? [j.user.did] : []));
        assert.equal(won.length, 1, JSON.stringify(joins));
        assert.deepEqual(joins.flatMap((j) => (j.ok ? [] : [j.why])), ['invitation-invalid']);
        assert.equal((await invitations.getByHash(hashToken('token')))!.usedBy, won[0]);
        assert.deepEqual((await users.list()).map((u) => u.did), [did(1), won[0]]);
      });

      test('two first owners at once on an empty table: one owner, the other is told not-first', async () => {
        const storage = await backend.open();
        const users = new UserStore(storage);
        const joins = await together(
          storage,
          'users',
          [2, 3].map((n) => () => users.enroll(newcomer(n, 'owner'), 20, { firstOwnerBesides: did(1), nameFor: () => `owner ${n}` })),
        );
        assert.deepEqual(joins.map((j) => (j.ok ? 'ok' : j.why)).sort(), ['not-first', 'ok'], JSON.stringify(joins));
        assert.deepEqual((await users.list()).map((u) => u.role), ['owner']);
      });

      test('two joins asking one name: the second sees the first and takes another (names read in the writing transaction)', async () => {
        const storage = await backend.open();
        const users = new UserStore(storage);
        const invitations = new InvitationStore(storage);
        for (const token of ['t2', 't3']) await invitations.create(token, 'viewer', did(1), 1_000, 10);
        const joins = await together(
          storage,
          'users',
          [2, 3].map((n) => () => users.enroll(newcomer(n, 'viewer'), 20, { invitation: { store: invitations, token: `t${n}` }, nameFor: nameOrFingerprinted('alice', n) })),
        );
        assert.ok(joins.every((j) => j.ok), JSON.stringify(joins));
        const names = (await users.names()).map((u) => u.name);
        assert.equal(new Set(names).size, 2, names.join(', '));
        assert.ok(names.includes('alice'));
      });

      test('the same DID joining twice at once: one enrolment, the other is told known', async () => {
        const storage = await backend.open();
        const users = new UserStore(storage);
        const joins = await together(
          storage,
          'users',
          [0, 1].map((i) => () => users.enroll(newcomer(2, 'owner'), 20 + i, { firstOwnerBesides: null, nameFor: () => `same ${i}` })),
        );
        assert.deepEqual(joins.map((j) => (j.ok ? 'ok' : j.why)).sort(), ['known', 'ok'], JSON.stringify(joins));
      });

      test('two renames to one name: one takes it, the other is told taken', async () => {
        const storage = await backend.open();
        const users = new UserStore(storage);
        for (const n of [1, 2]) await users.add(person(n, 'viewer'), n);
        const taken = (did: string) => (names: { did: string; name: string }[]) => names.some((u) => u.did !== did && u.name === 'erin');
        const renames = await together(
          storage,
          'users',
          [1, 2].map((n) => () => users.rename(did(n), 'erin', taken(did(n)))),
        );
        assert.deepEqual([...renames].sort(), ['renamed', 'taken']);
        assert.deepEqual((await users.names()).map((u) => u.name).sort(), ['erin', `user ${renames[0] === 'renamed' ? 2 : 1}`].sort());
      });
    });
  });
}
