import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { readRulesDocument } from '../../../core/rpc/rules-document';
import type { AnyRule } from '../../../core/wire/policy-rules';
import { ROOT } from '../../support/processes';

const problemOf = (document: unknown) => {
  const read = readRulesDocument(typeof document === 'string' ? document : JSON.stringify(document, null, 2));
  return read.ok ? undefined : read.problem;
};

describe('readRulesDocument', () => {
  test('a valid document gives its rules', () => {
    const read = readRulesDocument('{ "run_command": { "default": "ask", "rules": [ { "effect": "allow", "match": { "argv": ["git", "status"] } } ] } }');
    assert.deepEqual(read, { ok: true, rules: { run_command: { default: 'ask', rules: [{ effect: 'allow', match: { argv: ['git', 'status'] } }] } } });
  });

  test('JSON syntax first: a message from the parser, at the root', () => {
    const problem = problemOf('{ "run_command": { "rules": [ }');
    assert.deepEqual(problem?.path, []);
    assert.match(problem!.message, /^not JSON: /);
    assert.match(problemOf('{"a": 1,\n "b": x}')!.message, /^not JSON: /);
  });

  test('then the schema: the path into the document, the message naming the rule', () => {
    assert.deepEqual(problemOf({ run_command: { rules: [{ effect: 'allow', match: { argv: ['git'] } }, { effect: 'allow', match: { argv: ['./git', 'status'] } }] } }), {
      path: ['run_command', 'rules', 1, 'match', 'argv'],
      message: 'run_command rule 2 (match.argv): the command is a bare name (git) or an absolute path (/usr/bin/git), not a relative path',
    });
    const typo = problemOf({ write_file: { rules: [{ effect: 'deny', match: { path: '.env' }, exmples: {} }] } });
    assert.deepEqual(typo?.path, ['write_file', 'rules', 0, 'exmples'], 'an unknown key is pointed at itself');
    assert.match(typo!.message, /^write_file rule 1 \(exmples\): /);
    const capability = problemOf({ run_commands: { rules: [] } });
    assert.deepEqual(capability?.path, ['run_commands']);
    assert.deepEqual(problemOf({ read_file: { default: 'never', rules: [] } })?.path, ['read_file', 'default']);
  });

  test('then the examples, as checkPolicyRules words them; rules for a capability not granted are kept', () => {
    assert.deepEqual(
      problemOf({
        run_command: {
          rules: [
            { effect: 'allow', match: { argv: ['git', 'status', '*'] } },
            { effect: 'deny', match: { argv: ['rm', '*'] } },
            { effect: 'ask', match: { argv: ['git', '*'] }, examples: { matches: [['git', 'push']], doesNotMatch: [['git', 'status']] } },
          ],
        },
      }),
      {
        path: ['run_command', 'rules', 2, 'examples', 'doesNotMatch', 0],
        message: 'run_command rule 3 (ask ["git","*"]): example ["git","status"] should not match but does',
      },
    );
    assert.equal(problemOf({ http_fetch: { rules: [{ effect: 'allow', match: { host: 'example.com' } }] } }), undefined, 'rules for a capability not granted are kept, for when it is');
  });

  test(`a document over BUDGETS.policyRulesBytes is refused at the root with the budget named`, () => {
    const rules = Array.from({ length: 80 }, (_, i) => ({ effect: 'deny', match: { path: `${i}${'x'.repeat(250)}` } }));
    const problem = problemOf({ write_file: { rules } });
    assert.deepEqual(problem, { path: [], message: `the rules take more than ${BUDGETS.policyRulesBytes.limit} bytes as JSON` });
  });
});

describe('examples/rules/build-machine.json, the rule set the README shows', () => {
  test('loads, fits the budgets, and every example of every rule holds', () => {
    const text = readFileSync(join(ROOT, 'examples', 'rules', 'build-machine.json'), 'utf8');
    const read = readRulesDocument(text);
    assert.ok(read.ok, read.ok ? '' : `${read.problem.path.join('.')}: ${read.problem.message}`);
    const rules: readonly AnyRule[] = Object.values(read.rules).flatMap((entry): readonly AnyRule[] => entry.rules);
    assert.ok(rules.every((rule) => (rule.examples?.matches?.length ?? 0) > 0), 'every rule shows what it matches');
  });
});
