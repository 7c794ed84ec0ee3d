// The webhook signature a receiver checks (core/ops/notification-signature.ts): the body and its timestamp are
// bound by HMAC-SHA256 under the shared key; a changed byte, another key, a malformed header or a timestamp past
// BUDGETS.notifySignatureAgeMs are each refused by name.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { signNotification, verifyNotificationSignature } from '../../../core/ops/notification-signature';

const secret = Buffer.from('a-team-webhook-secret-of-32-chars');
const body = Buffer.from('{"type":"approval.requested","text":"test-agent waits for a reviewer"}');
const now = 1_780_000_000_000;
const t = now / 1000;

describe('notification signature', () => {
  test('a body signed with the key verifies, with its timestamp', () => {
    assert.deepEqual(verifyNotificationSignature(secret, body, signNotification(secret, body, t), now), { ok: true, timestamp: t });
    assert.match(signNotification(secret, body, t), /^t=1780000000,v1=[0-9a-f]{64}$/);
  });

  test('one byte of the body changed is a mismatch, whatever the byte', () => {
    const header = signNotification(secret, body, t);
    for (const at of [0, 10, body.length - 1]) {
      const tampered = Buffer.from(body);
      tampered[at] = tampered[at]! ^ 0x01;
      assert.deepEqual(verifyNotificationSignature(secret, tampered, header, now), { ok: false, reason: 'mismatch' });
    }
    assert.deepEqual(verifyNotificationSignature(secret, Buffer.concat([body, Buffer.from(' ')]), header, now), { ok: false, reason: 'mismatch' });
  });

  test('a signature made with another key, or moved to another timestamp, is a mismatch', () => {
    const forged = signNotification(Buffer.from('not-the-team-secret-at-all-0000'), body, t);
    assert.deepEqual(verifyNotificationSignature(secret, body, forged, now), { ok: false, reason: 'mismatch' });
    const mac = signNotification(secret, body, t).split('v1=')[1];
    assert.deepEqual(verifyNotificationSignature(secret, body, `t=${t + 1},v1=${mac}`, now), { ok: false, reason: 'mismatch' });
  });

  test('a missing, repeated or malformed header is refused as malformed', () => {
    const good = signNotification(secret, body, t);
    for (const header of [undefined, '', [good, good], `${good},v1=${'0'.repeat(64)}`, good.toUpperCase(), `v1=${good.split('v1=')[1]}`, `t=${t},v1=abc`]) {
      assert.deepEqual(verifyNotificationSignature(secret, body, header, now), { ok: false, reason: 'malformed' }, String(header));
    }
  });

  test(`a timestamp BUDGETS.notifySignatureAgeMs (${BUDGETS.notifySignatureAgeMs.limit} ms) away verifies; a second more is refused as stale, either way`, () => {
    const age = BUDGETS.notifySignatureAgeMs.limit / 1000;
    for (const sign of [-1, 1]) {
      const atBound = t + sign * age;
      assert.equal(verifyNotificationSignature(secret, body, signNotification(secret, body, atBound), now).ok, true);
      const past = t + sign * (age + 1);
      assert.deepEqual(verifyNotificationSignature(secret, body, signNotification(secret, body, past), now), { ok: false, reason: 'stale' });
    }
    // At the bound + 1 ms of the receiver's clock, too.
    assert.deepEqual(verifyNotificationSignature(secret, body, signNotification(secret, body, t), now + BUDGETS.notifySignatureAgeMs.limit + 1), { ok: false, reason: 'stale' });
  });
});
