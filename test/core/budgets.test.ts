/**
 * The budgets table is only worth something if every row is enforced and attacked. This checks the table's shape
 * and that each row is exercised from test/: some test file names `BUDGETS.<row>` (the convention is a test at the
 * bound and one at the bound + 1 that reads the limit from the table, so changing a limit moves its tests with it).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BUDGETS, type Budget } from '../../core/budgets';
import { ROOT } from '../support/processes';

const rows = Object.entries(BUDGETS) as [string, Budget][];

function testSources(): { file: string; text: string }[] {
  return readdirSync(join(ROOT, 'test'), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts') && f !== join('core', 'budgets.test.ts'))
    .map((f) => ({ file: f, text: readFileSync(join(ROOT, 'test', f), 'utf8') }));
}

describe('core/budgets.ts', () => {
  test('every row states who controls the input, a positive whole limit, its unit and where it is enforced', () => {
    assert.ok(rows.length > 0);
    for (const [name, row] of rows) {
      assert.ok(row.who.length > 0, `${name}: no adversary`);
      assert.ok(Number.isSafeInteger(row.limit) && row.limit > 0, `${name}: limit ${row.limit}`);
      assert.ok(row.what.length > 10, `${name}: say what is bounded`);
      assert.ok(row.enforcedAt.length > 0, `${name}: say where it is enforced`);
    }
  });

  test('every row is exercised by a test that reads its limit from the table', () => {
    const sources = testSources();
    const untested = rows
      .map(([name]) => name)
      .filter((name) => !sources.some(({ text }) => new RegExp(`BUDGETS\\.${name}\\b`).test(text)));
    assert.deepEqual(untested, [], `rows no test names as BUDGETS.<row>: ${untested.join(', ')}`);
  });

  test('every file a row names as its enforcement point exists and reads the table', () => {
    // Constants defined from the table (MAX_HUB_FRAME_BYTES = BUDGETS.hubFrameBytes.limit) count as reading it.
    const aliases = readdirSync(join(ROOT, 'core'), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => [...readFileSync(join(ROOT, 'core', f), 'utf8').matchAll(/export const (\w+) = BUDGETS\./g)].map((m) => m[1]!));
    const readsTable = new RegExp(`BUDGETS|budgets'|\\b(${aliases.join('|')})\\b`);
    const problems: string[] = [];
    for (const [name, row] of rows) {
      const files = row.enforcedAt.match(/[\w./-]+\.ts/g) ?? [];
      if (files.length === 0) problems.push(`${name}: enforcedAt names no file`);
      for (const file of files) {
        const text = readFileSync(join(ROOT, file), 'utf8');
        if (!readsTable.test(text)) problems.push(`${name}: ${file} does not read core/budgets.ts`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
