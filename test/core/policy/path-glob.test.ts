import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { escapeGlob, globMatches, joinSegments, normaliseWorkspacePath } from '../../../core/policy/path-glob';
import { BUDGETS } from '../../../core/budgets';
import { fuzzParameters } from '../../fault/support/fuzz-budget';

const matches = (glob: string, path: string, fold = false) => globMatches(glob, normaliseWorkspacePath(path).segments, fold);

describe('normaliseWorkspacePath', () => {
  test('./, // and a/../b are resolved lexically; the root is zero segments', () => {
    assert.deepEqual(normaliseWorkspacePath('./src//a/../b.ts'), { segments: ['src', 'b.ts'], inside: true });
    assert.deepEqual(normaliseWorkspacePath('.'), { segments: [], inside: true });
    assert.equal(joinSegments(normaliseWorkspacePath('./').segments), '.');
  });

  test('an absolute path or one climbing out of the workspace is not inside, even if it climbs back', () => {
    assert.equal(normaliseWorkspacePath('/etc/passwd').inside, false);
    assert.equal(normaliseWorkspacePath('../x').inside, false);
    assert.equal(normaliseWorkspacePath('a/../../ws/x').inside, false);
    assert.equal(normaliseWorkspacePath('a/../x').inside, true);
  });
});

describe('globMatches', () => {
  const table: [glob: string, path: string, expected: boolean][] = [
    ['src/**', 'src', true],
    ['src/**', 'src/a/b/c.ts', true],
    ['src/**', 'src2/a', false],
    ['**/.env*', '.env', true],
    ['**/.env*', 'a/b/.env.production', true],
    ['**/.env*', 'a/b/env', false],
    ['**/.git/**', '.git', true],
    ['**/.git/**', 'sub/.git/hooks/pre-commit', true],
    ['**/.git/**', '.github/ci.yml', false],
    ['*.md', 'README.md', true],
    ['*.md', 'docs/README.md', false],
    ['*', '.hidden', true],
    ['docs/?.md', 'docs/a.md', true],
    ['docs/?.md', 'docs/ab.md', false],
    ['docs/?.md', 'docs/\u{1F600}.md', true],
    ['a/**/b/**/c', 'a/b/c', true],
    ['a/**/b/**/c', 'a/x/y/b/z/c', true],
    ['a/**/b/**/c', 'a/x/c', false],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['a\\?', 'a?', true],
    ['**', '.', true],
    ['src/a**b', 'src/aXYb', true],
    ['src/a**b', 'src/aX/Yb', false],
  ];
  for (const [glob, path, expected] of table) {
    test(`${glob} ${expected ? 'matches' : 'does not match'} ${path}`, () => assert.equal(matches(glob, path), expected));
  }

  test('case and Unicode: exact unless folded (deny rules fold)', () => {
    assert.equal(matches('**/.env*', '.ENV'), false);
    assert.equal(matches('**/.env*', '.ENV', true), true);
    assert.equal(matches('src/**', 'Src/a'), false);
    assert.equal(matches('src/**', 's\u0433c/a'), false, 'a Cyrillic letter is another name');
    assert.equal(matches('caf\u00e9/*', 'cafe\u0301/x'), false, 'no Unicode normalisation: NFD is another name');
  });

  test('an escaped path is a glob that matches that path and no other', () => {
    const path = 'a*b/?c\\d';
    assert.equal(matches(escapeGlob(path), path), true);
    assert.equal(matches(escapeGlob(path), 'aXb/Zc\\d'), false);
  });
});

/** The reference: a plain backtracking matcher, exponential but obviously right on small inputs. */
function reference(glob: string[], path: string[]): boolean {
  const segment = (p: string[], s: string[]): boolean => {
    if (p.length === 0) return s.length === 0;
    const [head, ...rest] = p;
    if (head === '*') return s.some((_, i) => segment(rest, s.slice(i))) || segment(rest, []) || (s.length > 0 && segment(p, s.slice(1)));
    if (s.length === 0) return false;
    return (head === '?' || head === s[0]) && segment(rest, s.slice(1));
  };
  if (glob.length === 0) return path.length === 0;
  const [head, ...rest] = glob;
  if (head === '**') return path.some((_, i) => reference(rest, path.slice(i))) || reference(rest, []);
  return path.length > 0 && segment(Array.from(head!), Array.from(path[0]!)) && reference(rest, path.slice(1));
}

describe('globMatches against a reference, and in bounded time on extreme inputs', () => {
  test('agrees with the backtracking reference on small random globs and paths', () => {
    const char = fc.constantFrom('a', 'b', '.', '*', '?');
    const name = fc.array(fc.constantFrom('a', 'b', '.'), { minLength: 1, maxLength: 4 }).map((c) => c.join(''));
    const globSegment = fc.oneof(fc.constant('**'), fc.array(char, { minLength: 1, maxLength: 4 }).map((c) => c.join('')));
    fc.assert(
      fc.property(fc.array(globSegment, { minLength: 1, maxLength: 4 }), fc.array(name, { maxLength: 5 }), (glob, path) => {
        const pattern = glob.filter((s) => s !== '.');
        const names = path.filter((s) => s !== '.' && s !== '..');
        if (pattern.length === 0) return;
        assert.equal(globMatches(pattern.join('/'), names, false), reference(pattern, names), `${pattern.join('/')} vs ${names.join('/')}`);
      }),
      fuzzParameters(2_000, 20_000),
    );
  });

  test(`a 4096-byte path against globs of BUDGETS.rulePatternBytes full of ** and * answers at once`, () => {
    const limit = BUDGETS.rulePatternBytes.limit;
    const shapes = [
      '**/'.repeat(Math.floor((limit - 1) / 3)) + 'z',
      '*a'.repeat(limit / 2),
      ('**/' + '*a*/').repeat(Math.floor(limit / 7)).slice(0, limit - 1) + 'z',
    ];
    const paths = ['a/'.repeat(2047) + 'a', 'a'.repeat(255) + '/' + 'ab'.repeat(1919), 'a'.repeat(4096)];
    fc.assert(
      fc.property(fc.constantFrom(...shapes), fc.constantFrom(...paths), (glob, path) => {
        assert.ok(Buffer.byteLength(glob) <= limit);
        const started = performance.now();
        globMatches(glob, normaliseWorkspacePath(path).segments, true);
        // O(pattern × path) is a few million steps: generous for a loaded machine, far below a backtracking blow-up.
        assert.ok(performance.now() - started < 5_000, `${glob.slice(0, 20)}… took ${performance.now() - started} ms`);
      }),
      { numRuns: 20 },
    );
  });
});
