// Webhook delivery in process (broker/ops/notify/): the body cut to BUDGETS.notifyBodyBytes, BUDGETS.notifyAttempts
// tries then the dead-letter file, the queue bounded by BUDGETS.notifyQueue (the oldest waiting goes to the
// dead-letter file), the dead-letter file bounded by BUDGETS.deadLetterBytes. Real loopback HTTP receivers, real
// files in temp directories; only the wait between attempts is shortened.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { after, afterEach, describe, test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { NotificationBody } from '../../../core/ops/notification';
import { verifyNotificationSignature } from '../../../core/ops/notification-signature';
import { DeadLetterFile, type DeadLetter } from '../../../broker/ops/notify/dead-letter';
import { DeliveryQueue, type DeliveryReport, type Outgoing } from '../../../broker/ops/notify/delivery-queue';
import { notificationBody } from '../../../broker/ops/notify/notification-body';
import type { NotificationFacts } from '../../../broker/ops/notify/notification-facts';
import { tempDir, waitFor } from '../../support/processes';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhook-receiver';

const secret = Buffer.from('in-process-webhook-secret-0123456789');
const dirs: string[] = [];
const receivers: WebhookReceiver[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const receiver of receivers.splice(0)) await receiver.close();
});

const envelope = () => ({ deliveryId: randomUUID(), time: new Date().toISOString(), broker: `did:vaultys:${'b'.repeat(40)}` });
const requestFacts = (call: string, more: Partial<NotificationFacts['summary']> = {}): NotificationFacts => ({
  type: 'approval.requested',
  summary: {
    requestId: 'a'.repeat(32),
    intentId: 'c'.repeat(32),
    agent: `did:vaultys:${'1'.repeat(40)}`,
    agentName: 'build-agent',
    user: `did:vaultys:${'2'.repeat(40)}`,
    userName: 'alice',
    capability: 'run_command',
    call,
    cwd: '/srv/ws',
    expiresAt: new Date(0).toISOString(),
    ...more,
  },
  link: `vscode://vaultysclaw.vaultysclaw/approval?id=${'a'.repeat(32)}`,
});

/** A loopback receiver; `answer` says the status of each request in turn (null: never answer). */
async function receiver(answer: WebhookReceiver['answer']): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver();
  started.answer = answer;
  receivers.push(started);
  return started;
}

function queueTo(url: URL) {
  const dataDir = tempDir('notify');
  dirs.push(dataDir);
  const deadLetters = new DeadLetterFile(dataDir);
  const events: { kind: string; id: string; reason?: string; attempts?: number; written?: boolean }[] = [];
  const report: DeliveryReport = {
    delivered: (n, attempts) => events.push({ kind: 'delivered', id: n.deliveryId, attempts }),
    failed: (n, attempts) => events.push({ kind: 'failed', id: n.deliveryId, attempts }),
    deadLettered: (n, reason, attempts, written) => events.push({ kind: 'dead', id: n.deliveryId, reason, attempts, written }),
  };
  const errors: unknown[] = [];
  const queue = new DeliveryQueue({ endpoint: { url }, secret, deadLetters, report, onError: (e) => errors.push(e), retryDelay: () => 5 });
  const letters = (): DeadLetter[] => readFileSync(deadLetters.path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as DeadLetter);
  return { queue, events, errors, deadLetters, letters };
}

const outgoing = (): Outgoing => {
  const e = envelope();
  return { deliveryId: e.deliveryId, type: 'approval.requested', body: notificationBody(requestFacts('ls'), e, 'json') };
};

describe('notification body', () => {
  test(`a body of exactly BUDGETS.notifyBodyBytes (${BUDGETS.notifyBodyBytes.limit}) goes whole; one byte more has the longest chosen text cut, and says so`, () => {
    const e = envelope();
    const fixed = notificationBody(requestFacts(''), e, 'json').length;
    const atBound = notificationBody(requestFacts('x'.repeat(BUDGETS.notifyBodyBytes.limit - fixed)), e, 'json');
    assert.equal(atBound.length, BUDGETS.notifyBodyBytes.limit);
    const whole = NotificationBody.parse(JSON.parse(atBound.toString('utf8')));
    assert.equal(whole.truncated, false);
    assert.equal(whole.summary.call, 'x'.repeat(BUDGETS.notifyBodyBytes.limit - fixed));

    const over = notificationBody(requestFacts('x'.repeat(BUDGETS.notifyBodyBytes.limit - fixed + 1)), e, 'json');
    assert.ok(over.length <= BUDGETS.notifyBodyBytes.limit, `${over.length} bytes`);
    const cut = NotificationBody.parse(JSON.parse(over.toString('utf8')));
    assert.equal(cut.truncated, true);
    assert.match(cut.summary.call!, /^x+…$/);
    // The broker's own facts are never cut.
    assert.equal(cut.summary.requestId, 'a'.repeat(32));
    assert.equal(cut.link, `vscode://vaultysclaw.vaultysclaw/approval?id=${'a'.repeat(32)}`);
    assert.equal(cut.deliveryId, e.deliveryId);
  });

  test('a megabyte of quotes, backslashes, multi-byte and invisible characters in every chosen field still fits, in both formats, as JSON that parses', () => {
    const hostile = '"\\<é𝄞\u202e&>'.repeat(80_000);
    const facts = requestFacts(hostile, { agentName: hostile, userName: hostile, cwd: hostile, rule: hostile, reason: hostile });
    for (const format of ['json', 'slack'] as const) {
      const body = notificationBody(facts, envelope(), format);
      assert.ok(body.length <= BUDGETS.notifyBodyBytes.limit, `${format}: ${body.length} bytes`);
      const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (format === 'json') assert.equal(NotificationBody.parse(parsed).truncated, true);
      else {
        assert.equal(typeof parsed.text, 'string');
        assert.ok(Array.isArray(parsed.blocks));
        // Slack would read <…> as a link: what an agent chose never carries one of its own.
        assert.doesNotMatch(JSON.stringify(parsed.blocks), /<[^v]/);
        assert.match(JSON.stringify(parsed.blocks), /<vscode:\/\/vaultysclaw\.vaultysclaw\/approval\?id=a{32}\|Open the approval in VS Code>/);
      }
    }
  });
});

describe('notification delivery', () => {
  test(`a receiver that fails BUDGETS.notifyAttempts - 1 (${BUDGETS.notifyAttempts.limit - 1}) times gets it on the last attempt, signed afresh each time, under one delivery id`, async () => {
    const { url, received } = await receiver((n) => (n < BUDGETS.notifyAttempts.limit ? 503 : 204));
    const { queue, events, letters } = queueTo(url);
    const n = outgoing();
    queue.push(n);
    await waitFor('the delivery', () => events.find((e) => e.kind === 'delivered'));
    assert.equal(received.length, BUDGETS.notifyAttempts.limit);
    for (const r of received) {
      assert.equal(r.deliveryId, n.deliveryId);
      assert.deepEqual(r.body, n.body);
      assert.equal(verifyNotificationSignature(secret, r.body, r.signature).ok, true);
    }
    assert.deepEqual(events.at(-1), { kind: 'delivered', id: n.deliveryId, attempts: BUDGETS.notifyAttempts.limit });
    assert.deepEqual(letters(), []);
  });

  test(`a receiver that fails BUDGETS.notifyAttempts (${BUDGETS.notifyAttempts.limit}) times is not tried again: the notification is in the dead-letter file, 0600`, async () => {
    const { url, received } = await receiver(() => 500);
    const { queue, events, letters, deadLetters } = queueTo(url);
    const n = outgoing();
    queue.push(n);
    const dead = await waitFor('the dead letter', () => events.find((e) => e.kind === 'dead'));
    assert.deepEqual(dead, { kind: 'dead', id: n.deliveryId, reason: 'attempts', attempts: BUDGETS.notifyAttempts.limit, written: true });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, BUDGETS.notifyAttempts.limit, 'no attempt past the budget');
    const [letter] = letters();
    assert.equal(letter?.deliveryId, n.deliveryId);
    assert.equal(letter?.body, n.body.toString('utf8'));
    assert.equal(statSync(deadLetters.path).mode & 0o777, 0o600);
  });

  test(`BUDGETS.notifyQueue (${BUDGETS.notifyQueue.limit}) notifications wait behind a stuck receiver; one more pushes the oldest waiting into the dead-letter file`, async () => {
    const { url, received } = await receiver(() => null);
    const { queue, events, letters } = queueTo(url);
    const first = outgoing();
    queue.push(first);
    await waitFor('the first delivery to be in flight', () => received.length === 1);
    const waiting = Array.from({ length: BUDGETS.notifyQueue.limit }, outgoing);
    for (const n of waiting) queue.push(n);
    assert.equal(queue.waiting, BUDGETS.notifyQueue.limit);
    assert.deepEqual(events, [], 'nothing given up at the bound');

    queue.push(outgoing());
    assert.equal(queue.waiting, BUDGETS.notifyQueue.limit);
    assert.deepEqual(events, [{ kind: 'dead', id: waiting[0]!.deliveryId, reason: 'queue-full', attempts: 0, written: true }]);
    assert.deepEqual(letters().map((l) => [l.deliveryId, l.reason]), [[waiting[0]!.deliveryId, 'queue-full']]);

    // Stopping gives up what is left, the one in flight included: nothing is dropped unsaid.
    queue.stop();
    assert.equal(letters().filter((l) => l.reason === 'stopping').length, BUDGETS.notifyQueue.limit + 1);
    assert.ok(letters().some((l) => l.deliveryId === first.deliveryId && l.reason === 'stopping'));
  });

  test(`the dead-letter file grows to BUDGETS.deadLetterBytes (${BUDGETS.deadLetterBytes.limit}) exactly; a letter one byte past it is only counted`, () => {
    const dataDir = tempDir('dead-letter');
    dirs.push(dataDir);
    const file = new DeadLetterFile(dataDir);
    const letter = (): DeadLetter => ({ deliveryId: randomUUID(), type: 'agent.revoked', reason: 'attempts', attempts: 8, body: '{"x":1}' });
    assert.equal(file.write(letter()), true);
    const line = statSync(file.path).size;
    // A sparse file: the size the budget reads, without writing 64 MiB.
    truncateSync(file.path, BUDGETS.deadLetterBytes.limit - line);
    assert.equal(file.write(letter()), true, 'the letter that brings the file to the bound is written');
    assert.equal(statSync(file.path).size, BUDGETS.deadLetterBytes.limit);
    assert.equal(file.write(letter()), false);
    assert.equal(statSync(file.path).size, BUDGETS.deadLetterBytes.limit);

    truncateSync(file.path, BUDGETS.deadLetterBytes.limit - line + 1);
    assert.equal(file.write(letter()), false, 'a letter that would take it one byte past the bound is not');
    assert.equal(statSync(file.path).size, BUDGETS.deadLetterBytes.limit - line + 1);
  });
});
