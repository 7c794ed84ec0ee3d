import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { UserGrant, UserHello, UserName } from '../../../core/rpc/user-auth';

test(`UserName: BUDGETS.userNameBytes (${BUDGETS.userNameBytes.limit}) bytes of UTF-8 are taken, one more is refused, counted in bytes not characters`, () => {
  const limit = BUDGETS.userNameBytes.limit;
  assert.ok(UserName.safeParse('a'.repeat(limit)).success);
  assert.equal(UserName.safeParse('a'.repeat(limit + 1)).success, false);
  assert.ok(UserName.safeParse('é'.repeat(limit / 2)).success);
  assert.equal(UserName.safeParse(`${'é'.repeat(limit / 2)}a`).success, false);
});

test('UserName: a name of only invisible characters or whitespace is no name', () => {
  for (const name of ['', '   ', '\u200b\u200b', '\u00ad', '\t\n']) assert.equal(UserName.safeParse(name).success, false, JSON.stringify(name));
  assert.ok(UserName.safeParse(' Alice ').success);
  // Visible enough, but PostgreSQL's TEXT cannot hold U+0000: refused here for both storage backends.
  assert.equal(UserName.safeParse('Al\u0000ice').success, false);
});

test('UserHello: an invitation token is 43 base64url characters; the hello takes no other key', () => {
  assert.ok(UserHello.safeParse({ name: 'a' }).success);
  assert.ok(UserHello.safeParse({ name: 'a', invitation: 'A'.repeat(42) + '_' }).success);
  for (const invitation of ['A'.repeat(42), 'A'.repeat(44), `${'A'.repeat(42)}=`, `${'A'.repeat(42)}+`]) {
    assert.equal(UserHello.safeParse({ name: 'a', invitation }).success, false, invitation);
  }
  assert.equal(UserHello.safeParse({ name: 'a', role: 'owner' }).success, false);
});

test('UserGrant: a role the broker knows, nothing else', () => {
  assert.ok(UserGrant.safeParse({ role: 'viewer', brokerName: 'b' }).success);
  assert.equal(UserGrant.safeParse({ role: 'root', brokerName: 'b' }).success, false);
});
