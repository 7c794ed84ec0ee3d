import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Methods, Notifications, RpcErrorCode, SessionMethods } from '../../../core/rpc/methods';
import { ADMINS, Role } from '../../../core/rpc/roles';

const did = `did:vaultys:${'a'.repeat(40)}`;

test('every request and notification has a name of its own under vaultysclaw/', () => {
  const names = [...Object.values(Methods), ...Object.values(SessionMethods), ...Object.values(Notifications)].map((m) => m.method);
  assert.equal(new Set(names).size, names.length, 'a name used twice would route one call to the other\'s handler');
  for (const name of names) assert.match(name, /^vaultysclaw\/[a-z]+\/[A-Za-z]+$/);
});

test('every method admits at least one role, and only roles that exist', () => {
  for (const [name, spec] of Object.entries(Methods)) {
    assert.ok(spec.roles.length > 0, name);
    for (const role of spec.roles) assert.ok(Role.safeParse(role).success, `${name}: ${role}`);
  }
});

test('what changes who may do what is for admins only', () => {
  for (const name of ['usersSetRole', 'usersRemove', 'usersRename', 'invitationsCreate', 'grantsCreate', 'grantsRevoke', 'policySet', 'agentsRevoke', 'registrationsApprove', 'registrationsReject', 'identityReload'] as const) {
    assert.deepEqual([...Methods[name].roles].sort(), [...ADMINS].sort(), name);
  }
});

test('params are strict: a field a method does not take is refused, not ignored', () => {
  assert.ok(Methods.usersRemove.params.safeParse({ did }).success);
  assert.equal(Methods.usersRemove.params.safeParse({ did, force: true }).success, false);
  assert.equal(Methods.agentsRevoke.params.safeParse({ did, reason: '' }).success, false);
  assert.ok(Methods.agentsRevoke.params.safeParse({ did, reason: 'r'.repeat(500) }).success);
  assert.equal(Methods.agentsRevoke.params.safeParse({ did, reason: 'r'.repeat(501) }).success, false);
  // PostgreSQL's TEXT cannot store NUL where SQLite's can: refused here, the caller told, the same on both backends.
  for (const method of [Methods.agentsRevoke, Methods.registrationsReject]) assert.equal(method.params.safeParse({ did, reason: 'stolen\u0000' }).success, false);
  assert.equal(Methods.policySet.params.parse({ did, policy: { capabilities: ['read_file'] } }).widen, false, 'widening is never the default');
});

test('a handshake challenge is base64 of at most 128 KiB', () => {
  const { params } = SessionMethods.init;
  assert.ok(params.safeParse({ challenge: 'QUJD' }).success);
  assert.equal(params.safeParse({ challenge: 'not base64!' }).success, false);
  assert.ok(params.safeParse({ challenge: 'A'.repeat(128 * 1024) }).success);
  assert.equal(params.safeParse({ challenge: 'A'.repeat(128 * 1024 + 1) }).success, false);
});

test('error codes are distinct, so a client can tell the classes apart', () => {
  const codes = Object.values(RpcErrorCode);
  assert.equal(new Set(codes).size, codes.length);
});
