import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HourlyWindow } from '../../../broker/store/hourly-window';

describe('HourlyWindow', () => {
  test('counts the requests after `since`, per agent; one exactly at `since` no longer counts', () => {
    const window = new HourlyWindow();
    window.add('a', 'i1', 100);
    window.add('a', 'i2', 200);
    window.add('b', 'i3', 150);
    assert.equal(window.countSince('a', 99), 2);
    assert.equal(window.countSince('b', 99), 1);
    assert.equal(window.countSince('a', 100), 1);
    assert.equal(window.countSince('a', 200), 0);
    assert.equal(window.countSince('unknown', 0), 0);
  });

  test('expired entries are gone for good: a later question about an earlier time does not bring them back', () => {
    const window = new HourlyWindow();
    window.add('a', 'i1', 100);
    window.add('a', 'i2', 200);
    assert.equal(window.countSince('a', 150), 1);
    assert.equal(window.countSince('a', 0), 1);
  });

  test('a removed request (the agent refused it) stops counting; removing an unknown one changes nothing', () => {
    const window = new HourlyWindow();
    window.add('a', 'i1', 100);
    window.add('a', 'i2', 200);
    window.remove('a', 'i1');
    window.remove('a', 'never-added');
    window.remove('nobody', 'i2');
    assert.equal(window.countSince('a', 0), 1);
    window.remove('a', 'i2');
    assert.equal(window.countSince('a', 0), 0);
  });

  test('a request recorded out of order (the clock stepped back) counts until the entries before it expire: it errs towards refusing', () => {
    const window = new HourlyWindow();
    window.add('a', 'i1', 1_000);
    window.add('a', 'i2', 500); // the clock stepped back
    assert.equal(window.countSince('a', 600), 2, 'i2 is older than since, but i1 ahead of it still counts');
    assert.equal(window.countSince('a', 1_000), 0, 'once i1 expires, both are dropped');
  });
});
