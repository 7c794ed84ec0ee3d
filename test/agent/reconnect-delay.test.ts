// The agent's reconnect delays: exponential with full jitter; after a broker restart (1001), a spread first
// retry and bounded retries while the new broker comes up, then exponential again.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_RECONNECT, ReconnectBackoff } from '../../agent/reconnect-delay';
import { CloseCode } from '../../core/wire/close-codes';

/** The n-th delay (from 0) of an outage that began with `firstCode`, the later closes being 1006, over many fresh backoffs. */
function delays(n: number, firstCode: number, samples = 1000): number[] {
  return Array.from({ length: samples }, () => {
    const backoff = new ReconnectBackoff();
    let delay = backoff.next(firstCode);
    for (let i = 0; i < n; i++) delay = backoff.next(1006);
    return delay;
  });
}
const range = (xs: number[]): [number, number] => [Math.min(...xs), Math.max(...xs)];

describe('reconnect backoff', () => {
  test('a dropped connection: 250-500 ms, then ceilings doubling up to 30 s', () => {
    const [lo, hi] = range(delays(0, 1006));
    assert.ok(lo >= 250 && hi <= 500, `${lo}..${hi}`);
    assert.ok(range(delays(3, 1006))[1] > 2_000 && range(delays(3, 1006))[1] <= 4_000);
    assert.ok(range(delays(12, 1006))[1] > 20_000 && range(delays(12, 1006))[1] <= 30_000);
  });

  test('a broker going away (1001): the first retry spreads over 250 ms-2 s, so a restart is not stampeded', () => {
    const first = delays(0, CloseCode.GoingAway);
    const [lo, hi] = range(first);
    assert.ok(lo >= 250 && hi <= DEFAULT_RECONNECT.restart.firstSpreadMs, `${lo}..${hi}`);
    const late = first.filter((d) => d > 1_000).length / first.length;
    assert.ok(late > 0.4 && late < 0.65, `share of first retries after 1 s: ${late}`);
  });

  test('while the restarted broker is not up yet, retries stay at most 4 s apart, then back off exponentially', () => {
    const capped = delays(DEFAULT_RECONNECT.restart.attempts - 1, CloseCode.GoingAway);
    assert.ok(range(capped)[1] <= DEFAULT_RECONNECT.restart.ceilingMs && range(capped)[1] > 3_000);
    assert.ok(range(delays(DEFAULT_RECONNECT.restart.attempts, CloseCode.GoingAway))[1] > 20_000);
  });

  test('reset after authenticating: the next outage starts over with its own close code', () => {
    const next = Array.from({ length: 200 }, () => {
      const b = new ReconnectBackoff();
      for (let i = 0; i < 5; i++) b.next(CloseCode.GoingAway);
      b.reset();
      return b.next(1006);
    });
    assert.ok(range(next)[1] <= 500);
  });
});
