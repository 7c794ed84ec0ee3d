import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HOUR_MS } from '../../../core/policy/intent-gates';
import { openAgentDatabase } from '../../../agent/store/agent-database';
import { RequestWindow } from '../../../agent/store/request-window';
import { tempDatabasePath } from './support/temp-database';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

function openWindow(path: string) {
  const db = openAgentDatabase(path);
  return { window: new RequestWindow(db), close: () => db.close() };
}

describe('RequestWindow', () => {
  test('counts only requests executed within the rolling hour', () => {
    const { window, close } = openWindow(tempDatabasePath());
    try {
      window.record(NOW - HOUR_MS - 1); // just outside
      window.record(NOW - HOUR_MS); // the edge counts: erring towards refusal
      window.record(NOW - 30 * 60_000);
      window.record(NOW - 1);
      window.record(NOW);
      assert.equal(window.countSince(NOW - HOUR_MS), 4);
      // Half an hour later the window starts at NOW - 30 min: that one (its edge) and the last two remain.
      assert.equal(window.countSince(NOW + 30 * 60_000 - HOUR_MS), 3);
      assert.equal(window.countSince(NOW + 30 * 60_000 - HOUR_MS + 1), 2);
      assert.equal(window.countSince(NOW + 1), 0);
    } finally {
      close();
    }
  });

  test('counts two requests executed in the same millisecond as two', () => {
    const { window, close } = openWindow(tempDatabasePath());
    try {
      window.record(NOW);
      window.record(NOW);
      assert.equal(window.countSince(NOW - HOUR_MS), 2);
    } finally {
      close();
    }
  });

  test('keeps counting after a restart, so a restart does not reset the rate limit', () => {
    const path = tempDatabasePath();
    const first = openWindow(path);
    for (let i = 0; i < 3; i++) first.window.record(NOW - i * 60_000);
    first.close();
    const second = openWindow(path);
    try {
      assert.equal(second.window.countSince(NOW - HOUR_MS), 3);
    } finally {
      second.close();
    }
  });

  test('prune drops requests older than the window and leaves the count of the window unchanged', () => {
    const { window, close } = openWindow(tempDatabasePath());
    try {
      for (const at of [NOW - 3 * HOUR_MS, NOW - HOUR_MS - 1, NOW - HOUR_MS, NOW - 5]) window.record(at);
      const before = window.countSince(NOW - HOUR_MS);
      assert.equal(window.prune(NOW - HOUR_MS), 2);
      assert.equal(window.countSince(NOW - HOUR_MS), before);
      assert.equal(window.countSince(0), 2, 'nothing older than the window is left');
    } finally {
      close();
    }
  });

  test('refuses a time that is not epoch milliseconds', () => {
    const { window, close } = openWindow(tempDatabasePath());
    try {
      assert.throws(() => window.record(Number.NaN), RangeError);
      assert.throws(() => window.countSince(Number.POSITIVE_INFINITY), RangeError);
      assert.throws(() => window.prune(0.5), RangeError);
    } finally {
      close();
    }
  });
});
