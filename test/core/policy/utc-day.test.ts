import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { isUtcDay, utcDay } from '../../../core/policy/utc-day';

const LAST_MS_OF_DAY = Date.parse('2025-03-09T23:59:59.999Z');
const FIRST_MS_OF_NEXT = Date.parse('2025-03-10T00:00:00.000Z');

describe('utcDay', () => {
  const savedTz = process.env.TZ;
  after(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  test('changes exactly at UTC midnight', () => {
    assert.equal(FIRST_MS_OF_NEXT - LAST_MS_OF_DAY, 1);
    assert.equal(utcDay(LAST_MS_OF_DAY), '2025-03-09');
    assert.equal(utcDay(FIRST_MS_OF_NEXT), '2025-03-10');
  });

  test('ignores the local time zone (a day is a UTC day wherever the agent runs)', () => {
    for (const tz of ['Pacific/Kiritimati', 'America/Los_Angeles', 'Asia/Kolkata', 'UTC']) {
      process.env.TZ = tz;
      assert.equal(utcDay(LAST_MS_OF_DAY), '2025-03-09', tz);
      assert.equal(utcDay(FIRST_MS_OF_NEXT), '2025-03-10', tz);
    }
  });

  test('handles the epoch, leap days and year ends', () => {
    assert.equal(utcDay(0), '1970-01-01');
    assert.equal(utcDay(Date.parse('2024-02-29T23:59:59.999Z')), '2024-02-29');
    assert.equal(utcDay(Date.parse('2024-12-31T23:59:59.999Z') + 1), '2025-01-01');
  });

  test('refuses instants with no YYYY-MM-DD day', () => {
    assert.throws(() => utcDay(Number.NaN), RangeError);
    assert.throws(() => utcDay(-1), RangeError);
    assert.throws(() => utcDay(Number.MAX_SAFE_INTEGER), RangeError);
    assert.throws(() => utcDay(Date.parse('+010000-01-01T00:00:00Z')), RangeError);
  });
});

describe('isUtcDay', () => {
  test('takes real calendar days in YYYY-MM-DD form, leap days included', () => {
    for (const day of ['1970-01-01', '2024-02-29', '2025-12-31', '9999-12-31']) assert.equal(isUtcDay(day), true, day);
  });

  test('refuses days that do not exist and every other spelling (a malformed day would read 0 and open the budget)', () => {
    for (const day of ['2025-02-29', '2025-13-01', '2025-04-31', '2025-00-10', '2025-3-9', '2025-03-09T00:00:00Z', ' 2025-03-09', '2025-03-09\n', '25-03-09', '', '２０２５-03-09']) {
      assert.equal(isUtcDay(day), false, JSON.stringify(day));
    }
  });

  test('every day utcDay names is a day isUtcDay takes', () => {
    for (const at of [0, LAST_MS_OF_DAY, FIRST_MS_OF_NEXT, Date.parse('2024-02-29T12:00:00Z'), Date.parse('9999-12-31T23:59:59.999Z')]) assert.equal(isUtcDay(utcDay(at)), true);
  });
});
