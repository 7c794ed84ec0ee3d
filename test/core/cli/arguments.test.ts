import assert from 'node:assert/strict';
import { test } from 'node:test';
import { positiveIntegerOption, secondsOption } from '../../../core/cli/arguments';

test('secondsOption: a positive number of seconds, fractions included, in whole milliseconds', () => {
  assert.equal(secondsOption('30', '--grace'), 30_000);
  assert.equal(secondsOption('0.25', '--grace'), 250);
  assert.equal(secondsOption('0.0004', '--grace'), 0);
  assert.equal(secondsOption('1e3', '--grace'), 1_000_000);
});

test('secondsOption: zero, negative, not a number or infinite is refused, naming the flag', () => {
  for (const text of ['0', '-1', 'abc', '', 'Infinity', 'NaN']) assert.throws(() => secondsOption(text, '--grace'), /^Error: --grace must be a positive number of seconds$/, text);
});

test('positiveIntegerOption: whole positive numbers only, up to the largest safe integer', () => {
  assert.equal(positiveIntegerOption('1', '--max'), 1);
  assert.equal(positiveIntegerOption(String(Number.MAX_SAFE_INTEGER), '--max'), Number.MAX_SAFE_INTEGER);
  for (const text of ['0', '-3', '1.5', '', 'ten', String(Number.MAX_SAFE_INTEGER + 1), 'Infinity']) {
    assert.throws(() => positiveIntegerOption(text, '--max'), /^Error: --max must be a positive whole number$/, text);
  }
});
