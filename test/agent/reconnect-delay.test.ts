// The agent's reconnect delays: exponential with full jitter, and a broker restart (1001) spread wider on the first retry.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CLOSE_GOING_AWAY, DEFAULT_RECONNECT, reconnectDelay } from '../../agent/reconnect-delay';

const sample = (attempt: number, code: number, n = 2000) => Array.from({ length: n }, () => reconnectDelay(attempt, code));

describe('reconnect delay', () => {
  test('the first retry after a dropped connection waits 250-500 ms', () => {
    const delays = sample(0, 1006);
    assert.ok(Math.min(...delays) >= 250 && Math.max(...delays) <= 500, `${Math.min(...delays)}..${Math.max(...delays)}`);
  });

  test('after a broker going away (1001) the first retries spread over 250 ms-2 s, so a restart is not stampeded', () => {
    const delays = sample(0, CLOSE_GOING_AWAY);
    assert.ok(Math.min(...delays) >= 250 && Math.max(...delays) <= DEFAULT_RECONNECT.goingAwaySpreadMs);
    const late = delays.filter((d) => d > 1_000).length / delays.length;
    assert.ok(late > 0.4 && late < 0.65, `share of first retries after 1 s: ${late}`);
  });

  test('later retries double their ceiling up to 30 s whatever the close code', () => {
    for (const code of [1001, 1006]) {
      assert.ok(Math.max(...sample(3, code)) <= 4_000 && Math.max(...sample(3, code)) > 2_000);
      assert.ok(Math.max(...sample(20, code)) <= 30_000 && Math.max(...sample(20, code)) > 20_000);
    }
  });
});
