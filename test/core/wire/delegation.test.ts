import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentScope, DelegationBody, RevocationListBody } from '../../../core/wire/delegation';

const did = `did:vaultys:${'a'.repeat(40)}`;
const id = 'b'.repeat(32);
const delegation = { id, user: did, agent: did, capabilities: ['read_file'], issuedAt: 1, expiresAt: 2 };

test('a delegation is for one agent or every agent ("*"), nothing in between', () => {
  assert.ok(AgentScope.safeParse(did).success);
  assert.ok(AgentScope.safeParse('*').success);
  for (const scope of ['**', 'did:vaultys:*', '', 'agent-1']) assert.equal(AgentScope.safeParse(scope).success, false, scope);
});

test('a delegation names between 1 and 16 known capabilities, and no field the broker did not sign', () => {
  assert.ok(DelegationBody.safeParse({ ...delegation, agent: '*' }).success);
  assert.equal(DelegationBody.safeParse({ ...delegation, capabilities: [] }).success, false);
  assert.ok(DelegationBody.safeParse({ ...delegation, capabilities: Array(16).fill('read_file') }).success);
  assert.equal(DelegationBody.safeParse({ ...delegation, capabilities: Array(17).fill('read_file') }).success, false);
  assert.equal(DelegationBody.safeParse({ ...delegation, capabilities: ['root'] }).success, false);
  assert.equal(DelegationBody.safeParse({ ...delegation, role: 'owner' }).success, false);
});

test('a revocation list has a non-negative integer version and at most 100 000 entries of each kind', () => {
  const list = { version: 0, issuedAt: 1, delegations: [], users: [] };
  assert.ok(RevocationListBody.safeParse(list).success);
  assert.equal(RevocationListBody.safeParse({ ...list, version: -1 }).success, false);
  assert.equal(RevocationListBody.safeParse({ ...list, version: 0.5 }).success, false);
  assert.ok(RevocationListBody.safeParse({ ...list, delegations: Array(100_000).fill(id) }).success);
  assert.equal(RevocationListBody.safeParse({ ...list, delegations: Array(100_001).fill(id) }).success, false);
  assert.equal(RevocationListBody.safeParse({ ...list, users: Array(100_001).fill(did) }).success, false);
  assert.equal(RevocationListBody.safeParse({ ...list, users: ['nobody'] }).success, false);
});
