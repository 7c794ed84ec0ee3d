import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openAgentDatabase } from '../../../agent/store/agent-database';
import { TokenLedger } from '../../../agent/store/token-ledger';
import { tempDatabasePath } from './support/temp-database';

const LAST_MS_OF_DAY = Date.parse('2025-03-09T23:59:59.999Z');
const FIRST_MS_OF_NEXT = Date.parse('2025-03-10T00:00:00.000Z');

function openLedger(path: string) {
  const db = openAgentDatabase(path);
  return { ledger: new TokenLedger(db), close: () => db.close() };
}

describe('TokenLedger', () => {
  test('rolls over at UTC midnight: usage one millisecond before does not count the next day', () => {
    const { ledger, close } = openLedger(tempDatabasePath());
    try {
      ledger.add(900, LAST_MS_OF_DAY);
      assert.equal(ledger.usedToday(LAST_MS_OF_DAY), 900);
      assert.equal(ledger.usedToday(FIRST_MS_OF_NEXT), 0);
      ledger.add(7, FIRST_MS_OF_NEXT);
      assert.equal(ledger.usedOn('2025-03-09'), 900);
      assert.equal(ledger.usedOn('2025-03-10'), 7);
      assert.equal(ledger.usedToday(FIRST_MS_OF_NEXT + 12 * 3_600_000), 7);
    } finally {
      close();
    }
  });

  test('adds up every use within a day', () => {
    const { ledger, close } = openLedger(tempDatabasePath());
    try {
      const morning = Date.parse('2025-03-10T00:00:00.000Z');
      ledger.add(10, morning);
      ledger.add(0, morning + 1);
      ledger.add(32, morning + 6 * 3_600_000);
      ledger.add(100, Date.parse('2025-03-10T23:59:59.999Z'));
      assert.equal(ledger.usedOn('2025-03-10'), 142);
      assert.equal(ledger.usedOn('2025-03-11'), 0);
    } finally {
      close();
    }
  });

  test('persists across a restart, so a restart does not refill the daily budget', () => {
    const path = tempDatabasePath();
    const first = openLedger(path);
    first.ledger.add(500, LAST_MS_OF_DAY);
    first.ledger.add(40, FIRST_MS_OF_NEXT);
    first.close();
    const second = openLedger(path);
    try {
      assert.equal(second.ledger.usedToday(LAST_MS_OF_DAY - 1000), 500);
      assert.equal(second.ledger.usedToday(FIRST_MS_OF_NEXT), 40);
      second.ledger.add(2, FIRST_MS_OF_NEXT + 1);
      assert.equal(second.ledger.usedOn('2025-03-10'), 42);
    } finally {
      second.close();
    }
  });

  test('refuses a malformed day instead of reading an empty budget', () => {
    const { ledger, close } = openLedger(tempDatabasePath());
    try {
      ledger.add(5, FIRST_MS_OF_NEXT);
      for (const day of ['2025-3-10', '2025-03-10T00:00:00.000Z', '2025-02-30', '2025-13-01', '10/03/2025', '']) {
        assert.throws(() => ledger.usedOn(day), RangeError, day);
      }
    } finally {
      close();
    }
  });

  test('refuses negative, fractional or non-numeric token counts', () => {
    const { ledger, close } = openLedger(tempDatabasePath());
    try {
      for (const tokens of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        assert.throws(() => ledger.add(tokens, FIRST_MS_OF_NEXT), RangeError, String(tokens));
      }
      assert.equal(ledger.usedToday(FIRST_MS_OF_NEXT), 0);
    } finally {
      close();
    }
  });
});
