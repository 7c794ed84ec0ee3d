import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { writeBatcher } from '../../../core/io/write-batcher';

/** A real Writable that records each syscall-sized batch it is handed. */
function recordingStream() {
  const batches: string[][] = [];
  const stream = new Writable({
    writev(chunks, done) {
      batches.push(chunks.map((c) => String(c.chunk)));
      done();
    },
    write(chunk, _encoding, done) {
      batches.push([String(chunk)]);
      done();
    },
  });
  return { stream, batches };
}

test('writes made in one turn of the event loop leave as one batch; the next turn starts a new one', async () => {
  const { stream, batches } = recordingStream();
  const beforeWrite = writeBatcher(stream);
  for (const frame of ['response', 'notification 1', 'notification 2']) {
    beforeWrite();
    stream.write(frame);
  }
  assert.deepEqual(batches, [], 'held until the turn ends');
  await nextTurn();
  beforeWrite();
  stream.write('later');
  await nextTurn();
  assert.deepEqual(batches, [['response', 'notification 1', 'notification 2'], ['later']]);
  assert.equal(stream.writableCorked, 0, 'never left corked');
});

test('without the batcher the same writes leave in more than one batch (the control that shows the batching is real)', async () => {
  const { stream, batches } = recordingStream();
  for (const frame of ['a', 'b', 'c']) stream.write(frame);
  await nextTurn();
  assert.equal(batches.length > 1, true);
});
