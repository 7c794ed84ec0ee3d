// BUDGETS.clusterViewHintsPerSecond on a clock the test moves: the view-only hints a bus publisher floods a node with
// are taken up to the bound in a second, refused past it, and taken again the next second.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ViewHintRate } from '../../../broker/cluster/view-hint-rate';
import { BUDGETS } from '../../../core/budgets';

const LIMIT = BUDGETS.clusterViewHintsPerSecond.limit;

test(`${LIMIT} view hints in one second are taken, the next is dropped, and the next second starts afresh`, () => {
  let now = 8_000_000;
  const rate = new ViewHintRate(() => now);
  for (let i = 0; i < LIMIT; i++) assert.equal(rate.take(), true, `hint ${i + 1}`);
  assert.equal(rate.take(), false, 'the bound + 1');
  now += 999;
  assert.equal(rate.take(), false, 'still the same second');
  now += 1;
  assert.equal(rate.take(), true, 'a new second');
});
