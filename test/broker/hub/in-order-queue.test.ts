/**
 * The queue an agent connection handles its frames through (BUDGETS.agentFramesQueued counts it): in order, one at a
 * time, a failure of one item going to its caller only; what waits behind a stalled item is counted, and released
 * without running when the broker closes the connection, instead of held in memory until the stall ends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InOrderQueue } from '../../../broker/hub/in-order-queue';

/** An item that stays in hand until released: storage that does not answer. */
function stalled(): { work: () => Promise<void>; release: () => void } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  return { work: () => held, release };
}

test('items run one after another in the order they came; on an idle queue the first starts before run() returns', async () => {
  const queue = new InOrderQueue();
  const ran: string[] = [];
  const stall = stalled();
  const first = queue.run(async () => {
    ran.push('first');
    await stall.work();
  }, { droppable: true });
  assert.deepEqual(ran, ['first'], 'started synchronously');
  const failing = queue.run(() => {
    ran.push('second');
    throw new Error('storage failed');
  }, { droppable: true });
  const third = queue.run(() => void ran.push('third'), { droppable: true });
  assert.equal(queue.length, 3);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(ran, ['first'], 'nothing overtakes the item in hand');
  stall.release();
  await first;
  await assert.rejects(failing, /storage failed/);
  await third;
  assert.deepEqual(ran, ['first', 'second', 'third'], 'a failure goes to its caller and the next item still runs');
  assert.equal(queue.length, 0);
});

test('drop() releases the droppable items waiting behind a stalled one without running them; the close still runs after it', async () => {
  const queue = new InOrderQueue();
  const ran: string[] = [];
  const stall = stalled();
  const inHand = queue.run(stall.work, { droppable: true });
  const waiting = Array.from({ length: 5 }, (_, i) => queue.run(() => void ran.push(`frame ${i}`), { droppable: true }));
  const close = queue.run(() => void ran.push('close'), { droppable: false });
  assert.equal(queue.length, 7);
  queue.drop();
  assert.equal(queue.length, 2, 'the one in hand and the close are left');
  await Promise.all(waiting);
  assert.deepEqual(ran, [], 'released while the stall lasts, never run');
  stall.release();
  await inHand;
  await close;
  assert.deepEqual(ran, ['close']);
  assert.equal(queue.length, 0);
});
