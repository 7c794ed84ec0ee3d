import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readsAuditHead, readsIntentCancel, readsIntentOrigin, readsPolicyRules, readsRefusedIntentId } from '../../../core/wire/hub-messages';

test('readsRefusedIntentId: agents from 0.2.0 on read an error frame’s intentId; older ones and unknown versions do not', () => {
  for (const version of ['0.2.0', '0.2.1', '0.3.0', '0.10.0', '1.0.0', '0.2.0-rc.1', '2.0.0+build']) assert.equal(readsRefusedIntentId(version), true, version);
  for (const version of ['0.1.9', '0.1.99', '0.0.1', undefined, '', 'dev', 'v0.3.0', '0.2']) assert.equal(readsRefusedIntentId(version), false, String(version));
});

test('readsPolicyRules: agents from 0.4.0 on read rules in their certificate; older ones and unknown versions do not', () => {
  for (const version of ['0.4.0', '0.4.1', '0.10.0', '1.0.0']) assert.equal(readsPolicyRules(version), true, version);
  for (const version of ['0.3.0', '0.3.99', '0.2.5', undefined, 'dev']) assert.equal(readsPolicyRules(version), false, String(version));
});

test('readsIntentCancel: agents from 0.4.0 on read an intent/cancel frame; older ones (whose strict decoder would drop the connection) and unknown versions do not', () => {
  for (const version of ['0.4.0', '0.4.1', '0.10.0', '1.0.0', '0.4.0-rc.1']) assert.equal(readsIntentCancel(version), true, version);
  for (const version of ['0.3.0', '0.3.99', '0.2.0', undefined, '', 'dev', 'v0.4.0', '0.4']) assert.equal(readsIntentCancel(version), false, String(version));
});

test("readsIntentOrigin: agents from 0.5.0 on read an intent's via and a rule's chosenBy; older ones (whose strict decoder would refuse them) and unknown versions do not", () => {
  for (const version of ['0.5.0', '0.5.1', '0.10.0', '1.0.0', '0.5.0-rc.1']) assert.equal(readsIntentOrigin(version), true, version);
  for (const version of ['0.4.0', '0.4.99', '0.3.0', undefined, '', 'dev', 'v0.5.0', '0.5']) assert.equal(readsIntentOrigin(version), false, String(version));
});

test("readsAuditHead: agents from 0.6.0 on read an audit/head frame; older ones (whose strict decoder would drop the connection over it) and unknown versions do not", () => {
  for (const version of ['0.6.0', '0.6.1', '0.10.0', '1.0.0', '0.6.0-rc.1']) assert.equal(readsAuditHead(version), true, version);
  for (const version of ['0.5.0', '0.5.99', '0.4.0', undefined, '', 'dev', 'v0.6.0', '0.6']) assert.equal(readsAuditHead(version), false, String(version));
});
