// End to end: a real broker started with --notify-url to an HTTPS webhook receiver on 127.0.0.1 (a certificate made
// here by openssl, trusted through --notify-ca) gets one signed notification for each event people are told about,
// as a real agent and real reviewers produce it: a registration waiting, an approval requested (with the deep link
// that opens it in VS Code), decided and expired, an intent failed, an agent revoked. Every signature verifies with
// the receiver's helper; a changed byte, another key or an old timestamp are refused by it. A receiver that is down
// gets the same notification again until it is back, once. The audit log never holds the key or the URL's path.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { approvalLink } from '../../core/ops/approval-link';
import { NotificationBody, type NotificationType } from '../../core/ops/notification';
import { signNotification, verifyNotificationSignature } from '../../core/ops/notification-signature';
import { approveAgent, auditLines, call, decisionParams, finalIntent, joinAs, ownerOf, pendingApproval, type Member } from '../attacks/support/team';
import { tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { makeTestPki, type TestPki } from '../support/test-pki';
import { startWebhookReceiver, type ReceivedNotification, type WebhookReceiver } from '../support/webhook-receiver';

exitIfHeldOpen();
const started = new Started();
const SECRET = 'e2e-webhook-secret-do-not-log-7f3a9c';
/** Long enough to decide one request at leisure on a loaded machine, short enough to watch another expire. */
const APPROVAL_TIMEOUT_S = 8;

let pki: TestPki;
let secretFile: string;
let receiver: WebhookReceiver;
let broker: BrokerProcess;
let agent: AgentProcess;
let owner: Member;
let bob: Member;

const bodyOf = (r: ReceivedNotification) => NotificationBody.parse(JSON.parse(r.body.toString('utf8')));
const delivered = (r: ReceivedNotification) => r.status !== null && r.status < 300;

/** The one notification of `type` matching `match` the receiver took (it may have seen failed attempts before). */
async function notified(type: NotificationType, match: (b: NotificationBody) => boolean = () => true, timeoutMs = 15_000): Promise<{ request: ReceivedNotification; body: NotificationBody }> {
  const request = await waitFor(`a ${type} notification`, () => receiver.received.find((r) => delivered(r) && bodyOf(r).type === type && match(bodyOf(r))), timeoutMs);
  return { request, body: bodyOf(request) };
}

function assertSigned({ request, body }: { request: ReceivedNotification; body: NotificationBody }): void {
  assert.equal(verifyNotificationSignature(SECRET, request.body, request.signature).ok, true, `${body.type} verifies`);
  assert.equal(request.deliveryId, body.deliveryId);
  assert.equal(body.broker, broker.did);
  assert.ok(Math.abs(Date.parse(body.time) - Date.now()) < 60_000);
}

before(async () => {
  const dir = tempDir('notify-pki');
  started.dirs.push(dir);
  pki = makeTestPki(dir);
  secretFile = join(dir, 'notify.secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  receiver = await startWebhookReceiver({ cert: pki.serverCert, key: pki.serverKey });
  broker = await started.broker({
    args: ['--notify-url', receiver.url.href, '--notify-secret-file', secretFile, '--notify-ca', pki.ca, '--approval-timeout', String(APPROVAL_TIMEOUT_S)],
  });
  owner = ownerOf(broker);
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
});

after(async () => {
  bob?.client.close();
  await started.cleanup();
  await receiver?.close();
});

describe('webhook notifications from a real broker', () => {
  test('a new agent: registration.pending, signed, with its name and what it asks for', async () => {
    agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, name: 'build-box', request: 'read_file,list_files,write_file' });
    const pending = await notified('registration.pending', (b) => b.summary.agent === agent.did);
    assertSigned(pending);
    assert.equal(pending.body.summary.agentName, 'build-box');
    assert.equal(pending.body.summary.requested, 'read_file,list_files,write_file');
    assert.match(pending.body.text, /^New agent build-box \(.+\) awaits approval/);
    assert.equal(pending.body.link, undefined);
    await approveAgent(owner, agent, { capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'] });
  });

  test('a paused write: approval.requested with the deep link, then approval.decided naming the reviewer; the decision was the reviewer\'s signed one', async () => {
    const params = { path: 'notes.txt', content: 'hello\n', mode: 'create' as const };
    const intent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params });
    const approval = await pendingApproval(owner, intent.id);
    const requested = await notified('approval.requested', (b) => b.summary.requestId === approval.requestId);
    assertSigned(requested);
    assert.equal(requested.body.link, approvalLink(approval.requestId));
    assert.equal(requested.body.summary.capability, 'write_file');
    assert.deepEqual(JSON.parse(requested.body.summary.call!), params);
    assert.equal(requested.body.summary.user, owner.did);
    assert.equal(requested.body.summary.agentName, 'build-box');
    // Told, not decided: the request still waits for a reviewer's key.
    assert.equal((await call(owner, 'approvalsGet', { requestId: approval.requestId })).state, 'pending');

    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve', { reason: 'fine by me' }));
    const decided = await notified('approval.decided', (b) => b.summary.requestId === approval.requestId);
    assertSigned(decided);
    assert.equal(decided.body.summary.state, 'approved');
    assert.equal(decided.body.summary.decidedBy, bob.did);
    assert.equal(decided.body.summary.decidedByName, 'bob');
    assert.equal(decided.body.summary.reason, 'fine by me');
    assert.equal(decided.body.link, approvalLink(approval.requestId));
    assert.equal((await finalIntent(owner, intent.id)).state, 'succeeded');
  });

  test('a request nobody decides: approval.expired once its timeout passes', async () => {
    const intent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'never.txt', content: 'x', mode: 'create' } });
    const approval = await pendingApproval(owner, intent.id);
    const expired = await notified('approval.expired', (b) => b.summary.requestId === approval.requestId, (APPROVAL_TIMEOUT_S + 15) * 1000);
    assertSigned(expired);
    assert.equal(expired.body.summary.state, 'expired');
    assert.equal(receiver.received.filter((r) => delivered(r) && bodyOf(r).summary.requestId === approval.requestId && bodyOf(r).type === 'approval.decided').length, 0);
  });

  test('an intent that fails on the agent: intent.failed with its reason', async () => {
    const intent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path: 'missing.txt' } });
    const final = await finalIntent(owner, intent.id);
    assert.equal(final.state, 'failed', `${final.reason}: ${final.message}`);
    const failed = await notified('intent.failed', (b) => b.summary.intentId === intent.id);
    assertSigned(failed);
    assert.equal(failed.body.summary.state, 'failed');
    assert.equal(failed.body.summary.capability, 'read_file');
    assert.ok(failed.body.summary.reason && failed.body.summary.reason.length > 0);
  });

  test('the receiver down: agent.revoked is retried under one delivery id until it is back, then taken once', async () => {
    const before = receiver.received.length;
    receiver.answer = () => 503;
    await call(owner, 'agentsRevoke', { did: agent.did, reason: 'host decommissioned' });
    await waitFor('two refused attempts', () => receiver.received.slice(before).filter((r) => r.status === 503).length >= 2, 15_000);
    receiver.answer = () => 204;
    const revoked = await notified('agent.revoked', (b) => b.summary.agent === agent.did);
    assertSigned(revoked);
    assert.equal(revoked.body.summary.reason, 'host decommissioned');
    const attempts = receiver.received.slice(before).filter((r) => bodyOf(r).type === 'agent.revoked');
    assert.ok(attempts.length >= 3 && attempts.length <= BUDGETS.notifyAttempts.limit, `${attempts.length} attempts`);
    assert.equal(new Set(attempts.map((r) => r.deliveryId)).size, 1, 'every attempt carries the same delivery id');
    assert.equal(attempts.filter(delivered).length, 1);
    const line = await broker.log.waitFor('notify.delivered', (l) => l.deliveryId === revoked.body.deliveryId);
    assert.equal(line.attempts, attempts.length);
    // The agent's connection closing says "revoked" again on the bus: people are told once.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(receiver.received.filter((r) => delivered(r) && bodyOf(r).type === 'agent.revoked').length, 1);
  });

  test('a receiver tells a forged, tampered or replayed notification from a real one', async () => {
    const { request } = await notified('registration.pending');
    assert.equal(verifyNotificationSignature(SECRET, request.body, request.signature).ok, true);
    const tampered = Buffer.from(request.body.toString('utf8').replace('build-box', 'build-bot'));
    assert.deepEqual(verifyNotificationSignature(SECRET, tampered, request.signature), { ok: false, reason: 'mismatch' });
    const t = Math.floor(Date.now() / 1000);
    assert.deepEqual(verifyNotificationSignature(SECRET, request.body, signNotification('a-guessed-secret-of-some-length', request.body, t)), { ok: false, reason: 'mismatch' });
    assert.deepEqual(verifyNotificationSignature(SECRET, request.body, request.signature, Date.now() + BUDGETS.notifySignatureAgeMs.limit + 5_000), { ok: false, reason: 'stale' });
  });

  test('the audit log says every delivery by its id and the receiver\'s origin, never the key nor the URL\'s path', async () => {
    const lines = auditLines(broker.dataDir);
    const deliveries = lines.filter((l) => l.event === 'notify.delivered');
    assert.ok(deliveries.length >= 6, `${deliveries.length} deliveries audited`);
    for (const l of deliveries) assert.equal(l.endpoint, receiver.url.origin);
    const text = readFileSync(join(broker.dataDir, 'audit.log'), 'utf8') + broker.log.raw.join('\n');
    assert.ok(!text.includes(SECRET), 'the key is never logged');
    assert.ok(!text.includes(receiver.url.pathname), "the URL's path is never logged");
  });
});

describe('the Slack format', () => {
  test('--notify-format slack: a Slack incoming-webhook payload (text and blocks) with the same facts, signed the same way', async () => {
    const slack = await startWebhookReceiver({ cert: pki.serverCert, key: pki.serverKey });
    try {
      const second = await started.broker({ args: ['--notify-url', slack.url.href, '--notify-secret-file', secretFile, '--notify-ca', pki.ca, '--notify-format', 'slack'] });
      const newcomer = await started.agent({ brokerUrl: second.url, brokerDid: second.did, name: '<https://evil.example|Approve now>', request: 'read_file' });
      const request = await waitFor('a Slack notification', () => slack.received.find(delivered), 15_000);
      assert.equal(verifyNotificationSignature(SECRET, request.body, request.signature).ok, true);
      const payload = JSON.parse(request.body.toString('utf8')) as { text: string; blocks: { type: string }[] };
      assert.match(payload.text, /^New agent &lt;https:\/\/evil\.example\|Approve now&gt; \(.+\) awaits approval/);
      assert.deepEqual(payload.blocks.map((b) => b.type), ['section', 'section', 'context']);
      assert.ok(JSON.stringify(payload.blocks).includes(newcomer.did));
      assert.ok(!JSON.stringify(payload).includes('<https://evil.example'), 'a name someone chose never becomes a Slack link');
    } finally {
      await slack.close();
    }
  });
});
