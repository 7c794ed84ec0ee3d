import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IntentBody, ProgressBody, RejectionReason, ResultBody } from '../../../core/wire/intent';

const did = `did:vaultys:${'a'.repeat(40)}`;
const id = 'b'.repeat(32);
const envelope = { payload: new Uint8Array(8), signature: new Uint8Array(64) };
const intent = { id, agent: did, capability: 'read_file', params: { path: 'x' }, user: did, delegation: envelope, revocationVersion: 0, issuedAt: 1, expiresAt: 2 };
const result = { intentId: id, agent: did, outcome: 'rejected', reason: 'sandbox-unavailable', message: '', output: null, finishedAt: 1 };
const progress = { intentId: id, agent: did, seq: 0, stream: 'stdout', text: '', at: 1 };
const usage = (day: string) => ({ day, tokens: 1 });

test('an intent is signed whole: every field is required, and no field the broker did not sign is taken', () => {
  assert.ok(IntentBody.safeParse(intent).success);
  for (const field of Object.keys(intent)) {
    const { [field]: _, ...without } = intent as Record<string, unknown>;
    assert.equal(IntentBody.safeParse(without).success, false, `without ${field}`);
  }
  assert.equal(IntentBody.safeParse({ ...intent, approved: true }).success, false);
  assert.equal(IntentBody.safeParse({ ...intent, capability: 'format_disk' }).success, false);
  assert.equal(IntentBody.safeParse({ ...intent, revocationVersion: -1 }).success, false);
  assert.equal(IntentBody.safeParse({ ...intent, revocationVersion: 1.5 }).success, false);
});

test('a result names a known reason or none, and its message is bounded', () => {
  assert.ok(ResultBody.safeParse(result).success);
  assert.ok(ResultBody.safeParse({ ...result, outcome: 'succeeded', reason: null, output: { exitCode: 0 } }).success);
  assert.equal(ResultBody.safeParse({ ...result, reason: 'because' }).success, false);
  assert.equal(ResultBody.safeParse({ ...result, outcome: 'maybe' }).success, false);
  assert.ok(ResultBody.safeParse({ ...result, message: 'm'.repeat(4096) }).success);
  assert.equal(ResultBody.safeParse({ ...result, message: 'm'.repeat(4097) }).success, false);
});

test('a result reports tokens for at most two UTC days', () => {
  assert.ok(ResultBody.safeParse({ ...result, usage: [usage('2026-01-01'), usage('2026-01-02')] }).success);
  assert.equal(ResultBody.safeParse({ ...result, usage: [usage('2026-01-01'), usage('2026-01-02'), usage('2026-01-03')] }).success, false);
});

test('the refusals of the command sandbox are reasons of their own', () => {
  for (const reason of ['sandbox-unavailable', 'destination-refused', 'bad-params', 'path-escape', 'replay']) assert.ok(RejectionReason.safeParse(reason).success, reason);
  assert.equal(RejectionReason.safeParse('denied').success, false);
});

test('progress text is bounded at 64 KiB and comes from a named stream', () => {
  assert.ok(ProgressBody.safeParse({ ...progress, text: 'x'.repeat(64 * 1024) }).success);
  assert.equal(ProgressBody.safeParse({ ...progress, text: 'x'.repeat(64 * 1024 + 1) }).success, false);
  assert.ok(ProgressBody.safeParse({ ...progress, stream: 'status' }).success);
  assert.equal(ProgressBody.safeParse({ ...progress, stream: 'stdin' }).success, false);
  assert.equal(ProgressBody.safeParse({ ...progress, seq: -1 }).success, false);
});
