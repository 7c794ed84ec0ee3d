import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUDIT_EVENTS, SECURITY_EVENTS } from '../../../core/audit/events';

const did = `did:vaultys:${'a'.repeat(40)}`;

test('events are named area.what, in lowercase, so a SIEM rule can match an area by prefix', () => {
  for (const event of Object.keys(AUDIT_EVENTS)) assert.match(event, /^[a-z]+\.[a-z-]+$/, event);
});

test('every security event promised to operators is recorded by at least one catalogued event', () => {
  for (const [promise, events] of Object.entries(SECURITY_EVENTS)) {
    assert.ok(events.length > 0, promise);
    for (const event of events) assert.ok(event in AUDIT_EVENTS, `${promise}: ${event}`);
  }
});

test('a line\'s fields are checked against its event: a required field missing or of the wrong type is refused', () => {
  const routed = { intentId: 'b'.repeat(32), user: did, role: 'operator', agent: did, capability: 'read_file' };
  assert.ok(AUDIT_EVENTS['intent.routed'].safeParse(routed).success);
  assert.equal(AUDIT_EVENTS['intent.routed'].safeParse({ ...routed, role: 'root' }).success, false);
  const { user: _, ...withoutUser } = routed;
  assert.equal(AUDIT_EVENTS['intent.routed'].safeParse(withoutUser).success, false);
});

test('a refused RPC names a reason from the RPC error table, not free text', () => {
  const line = { method: 'vaultysclaw/users/remove', did, code: -32003, reason: 'role-forbidden', detail: 'viewers may not' };
  assert.ok(AUDIT_EVENTS['rpc.refused'].safeParse(line).success);
  assert.equal(AUDIT_EVENTS['rpc.refused'].safeParse({ ...line, reason: 'nope' }).success, false);
});

test('a checkpoint says why it was written, from a fixed set', () => {
  const checkpoint = { reason: 'rotation', seq: 1, head: 'h', broker: did, brokerId: 'id', signature: 's' };
  assert.ok(AUDIT_EVENTS['audit.checkpoint'].safeParse(checkpoint).success);
  assert.equal(AUDIT_EVENTS['audit.checkpoint'].safeParse({ ...checkpoint, reason: 'whim' }).success, false);
});
