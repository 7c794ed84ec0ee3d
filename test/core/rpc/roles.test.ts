import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMINS, DISPATCHERS, EVERYONE, mayAssign, mayManage, REVIEWERS, Role, type Role as RoleName } from '../../../core/rpc/roles';

const ROLES = Role.options;
const pairs = (check: (actor: RoleName, other: RoleName) => boolean) => ROLES.flatMap((actor) => ROLES.filter((other) => check(actor, other)).map((other) => `${actor}>${other}`));

test('roles may be assigned only strictly below one’s own, and owner never', () => {
  assert.deepEqual(pairs(mayAssign), ['owner>admin', 'owner>operator', 'owner>reviewer', 'owner>viewer', 'admin>operator', 'admin>reviewer', 'admin>viewer', 'operator>viewer', 'reviewer>viewer']);
});

test('users may be managed only strictly below one’s own role: nobody acts on a peer, an owner on other owners neither', () => {
  assert.deepEqual(pairs(mayManage), ['owner>admin', 'owner>operator', 'owner>reviewer', 'owner>viewer', 'admin>operator', 'admin>reviewer', 'admin>viewer', 'operator>viewer', 'reviewer>viewer']);
});

test('the groups the method table uses: operators dispatch but do not review, reviewers review but do not dispatch', () => {
  assert.deepEqual([...EVERYONE], ['owner', 'admin', 'operator', 'reviewer', 'viewer']);
  assert.deepEqual([...ADMINS], ['owner', 'admin']);
  assert.ok(DISPATCHERS.includes('operator') && !DISPATCHERS.includes('reviewer') && !DISPATCHERS.includes('viewer'));
  assert.ok(REVIEWERS.includes('reviewer') && !REVIEWERS.includes('operator') && !REVIEWERS.includes('viewer'));
  assert.equal(Role.safeParse('root').success, false);
});
