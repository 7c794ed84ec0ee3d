import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { argvMatches } from '../../../core/policy/argv-match';
import { BUDGETS } from '../../../core/budgets';
import { RunCommandParams } from '../../../core/wire/tools';
import { fuzzParameters } from '../../fault/support/fuzz-budget';

const literal = (pattern: string[], argv: string[]) => argvMatches(pattern, argv, (element, index) => element === argv[index]);

describe('argvMatches', () => {
  const table: [pattern: string[], argv: string[], expected: boolean][] = [
    [['git', 'status'], ['git', 'status'], true],
    [['git', 'status'], ['git', 'status', '-s'], false],
    [['git', 'status'], ['git'], false],
    [['git', 'status', '*'], ['git', 'status'], true],
    [['git', 'status', '*'], ['git', 'status', '-s', '-b'], true],
    [['git', 'status', '*'], ['git', 'stash'], false],
    [['rm', '*', '-rf', '*'], ['rm', '-rf', '/'], true],
    [['rm', '*', '-rf', '*'], ['rm', 'a', 'b', '-rf'], true],
    [['rm', '*', '-rf', '*'], ['rm', '-fr', '/'], false],
    [['rm', '*', '-rf', '*'], ['rm', '-r', '-f', '/'], false],
    [['*'], ['anything', 'at', 'all'], true],
    [['*', '--exec-path', '*'], ['git', 'log', '--exec-path', '/x'], true],
    [['*', '*', '*'], ['a'], true],
    [['find', '*', '-exec', '*'], ['find', '.', '-name', '-exec'], true],
    [['find', '*', '-exec', '*'], ['find', '.', '-execdir', 'x'], false],
  ];
  for (const [pattern, argv, expected] of table) {
    test(`${JSON.stringify(pattern)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(argv)}`, () => assert.equal(literal(pattern, argv), expected));
  }

  test('each element is compared by the caller, with its index in the argv', () => {
    const seen: [string, number][] = [];
    argvMatches(['git', '*', 'x'], ['git', 'a', 'x'], (element, index) => (seen.push([element, index]), true));
    assert.ok(seen.some(([e, i]) => e === 'git' && i === 0));
    assert.ok(seen.every(([e]) => e !== '*'), 'a "*" is never handed to the comparison');
  });
});

/** The reference: a plain backtracking matcher, exponential but obviously right on small inputs. */
function reference(pattern: string[], argv: string[]): boolean {
  if (pattern.length === 0) return argv.length === 0;
  const [head, ...rest] = pattern;
  if (head === '*') return argv.some((_, i) => reference(rest, argv.slice(i))) || reference(rest, []);
  return argv.length > 0 && head === argv[0] && reference(rest, argv.slice(1));
}

describe('argvMatches against a reference, and in bounded time on extreme inputs', () => {
  test('agrees with the backtracking reference on small random patterns', () => {
    const word = fc.constantFrom('a', 'b', '-rf');
    fc.assert(
      fc.property(fc.array(fc.oneof(word, fc.constant('*')), { minLength: 1, maxLength: 6 }), fc.array(word, { minLength: 1, maxLength: 7 }), (pattern, argv) => {
        assert.equal(literal(pattern, argv), reference(pattern, argv));
      }),
      fuzzParameters(2_000, 20_000),
    );
  });

  test(`the longest argv the wire allows against patterns of BUDGETS.ruleArgvItems elements answers at once`, () => {
    const items = BUDGETS.ruleArgvItems.limit;
    const big = 'x'.repeat(8192);
    const argv = [big, ...Array.from({ length: 256 }, (_, i) => (i % 2 ? big : `${big.slice(1)}y`))];
    assert.equal(RunCommandParams.safeParse({ command: 'x', args: argv.slice(1), cwd: '.', timeoutMs: 1 }).success, true, 'the wire accepts this argv');
    fc.assert(
      fc.property(fc.array(fc.constantFrom('*', big, `${big.slice(1)}y`, `${big.slice(1)}z`), { minLength: items, maxLength: items }), (pattern) => {
        const started = performance.now();
        const answer = literal(pattern, argv);
        assert.equal(typeof answer, 'boolean');
        assert.ok(performance.now() - started < 5_000, `took ${performance.now() - started} ms`);
      }),
      { numRuns: 30 },
    );
  });
});
