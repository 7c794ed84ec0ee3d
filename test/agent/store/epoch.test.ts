import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertEpochMs } from '../../../agent/store/epoch';

test('assertEpochMs takes non-negative safe integers and refuses what would be stored as NULL or compare false', () => {
  for (const ok of [0, 1, Date.parse('2025-03-09T00:00:00Z'), Number.MAX_SAFE_INTEGER]) assertEpochMs(ok, 'at');
  for (const bad of [NaN, -1, 1.5, Infinity, -Infinity, Number.MAX_SAFE_INTEGER + 1]) {
    assert.throws(() => assertEpochMs(bad, 'issuedAt'), (err: Error) => err instanceof RangeError && err.message.startsWith('issuedAt must be epoch milliseconds'), String(bad));
  }
});
