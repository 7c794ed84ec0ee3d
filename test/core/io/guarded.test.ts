import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guarded } from '../../../core/io/guarded';

test('a throw inside a guarded callback reaches onError and not the caller', () => {
  const seen: unknown[] = [];
  const callback = guarded((err) => seen.push(err), (n: number) => {
    throw new RangeError(`bad ${n}`);
  });
  assert.doesNotThrow(() => callback(7));
  assert.equal(seen.length, 1);
  assert.match(String(seen[0]), /RangeError: bad 7/);
});

test('a rejected promise from a guarded async callback reaches onError, no unhandled rejection', async () => {
  const seen: unknown[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    guarded((err) => seen.push(err), async () => {
      throw new Error('async failure');
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(seen.length, 1);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('an onError that throws is contained too', () => {
  const callback = guarded(() => {
    throw new Error('logger gone');
  }, () => {
    throw new Error('first');
  });
  assert.doesNotThrow(() => callback());
});

test('arguments pass through and a normal return is untouched', () => {
  const got: number[] = [];
  guarded(() => assert.fail('no error expected'), (a: number, b: number) => got.push(a + b))(2, 3);
  assert.deepEqual(got, [5]);
});
