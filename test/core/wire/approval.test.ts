import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApprovalCountersignBody, ApprovalDecisionBody, ApprovalDecisionBundle, ApprovalRequestBody } from '../../../core/wire/approval';

const did = `did:vaultys:${'a'.repeat(40)}`;
const id = 'b'.repeat(32);
const request = { requestId: id, intentId: id, agent: did, user: did, capability: 'run_command', params: { command: 'make' }, cwd: '/work', requestedAt: 1, expiresAt: 2 };
const decision = { requestId: id, intentId: id, agent: did, decision: 'approve', reason: null, reviewer: did, decidedAt: 1 };
const countersign = { requestId: id, reviewer: did, decisionSha256: 'c'.repeat(64), countersignedAt: 1 };
const envelope = { payload: new Uint8Array(8), signature: new Uint8Array(64) };

test('a request carries what a reviewer reads, within bounds, and nothing else', () => {
  assert.ok(ApprovalRequestBody.safeParse(request).success);
  assert.ok(ApprovalRequestBody.safeParse({ ...request, cwd: '/'.repeat(4096) }).success);
  assert.equal(ApprovalRequestBody.safeParse({ ...request, cwd: '/'.repeat(4097) }).success, false);
  assert.equal(ApprovalRequestBody.safeParse({ ...request, preapproved: true }).success, false);
  assert.equal(ApprovalRequestBody.safeParse({ ...request, agent: 'did:vaultys:nothex' }).success, false);
});

test('a decision is approve or reject, with a bounded reason', () => {
  assert.ok(ApprovalDecisionBody.safeParse({ ...decision, decision: 'reject', reason: 'r'.repeat(1000) }).success);
  assert.equal(ApprovalDecisionBody.safeParse({ ...decision, reason: 'r'.repeat(1001) }).success, false);
  assert.equal(ApprovalDecisionBody.safeParse({ ...decision, decision: 'defer' }).success, false);
  assert.equal(ApprovalDecisionBody.safeParse({ ...decision, reason: undefined }).success, false);
});

test('the countersignature binds a SHA-256 of the decision, in lowercase hex', () => {
  assert.ok(ApprovalCountersignBody.safeParse(countersign).success);
  for (const decisionSha256 of ['c'.repeat(63), 'c'.repeat(65), 'C'.repeat(64), 'g'.repeat(64)]) {
    assert.equal(ApprovalCountersignBody.safeParse({ ...countersign, decisionSha256 }).success, false, decisionSha256);
  }
});

test('the bundle to the agent holds both envelopes and the reviewer id as bytes', () => {
  const bundle = { decision: envelope, reviewerId: new Uint8Array(77), countersignature: envelope };
  assert.ok(ApprovalDecisionBundle.safeParse(bundle).success);
  assert.equal(ApprovalDecisionBundle.safeParse({ ...bundle, reviewerId: 'AAAA' }).success, false);
  assert.equal(ApprovalDecisionBundle.safeParse({ decision: envelope, reviewerId: new Uint8Array(77) }).success, false);
});
