import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import { CertifiedPolicy } from '../../../core/wire/policy';
import { CommandRule, HttpRule, MAX_REVIEWERS, PathRule, PolicyRules, TaskRule } from '../../../core/wire/policy-rules';

const accepted = (schema: { safeParse(v: unknown): { success: boolean } }, value: unknown) => schema.safeParse(value).success;
const issueOf = (value: unknown) => {
  const parsed = PolicyRules.safeParse(value);
  return parsed.success ? undefined : parsed.error.issues[0]!.message;
};

describe('rule shapes', () => {
  test('a command is a bare name, an absolute path or "*", never a relative path', () => {
    for (const command of ['git', '/usr/bin/git', '*']) assert.ok(accepted(CommandRule, { effect: 'allow', match: { argv: [command, 'status'] } }), command);
    for (const command of ['./git', 'bin/git', '../git']) assert.equal(accepted(CommandRule, { effect: 'allow', match: { argv: [command] } }), false, command);
    assert.equal(accepted(CommandRule, { effect: 'allow', match: { argv: [] } }), false);
    assert.equal(accepted(CommandRule, { effect: 'allow', match: { argv: ['git', ''] } }), false, 'an empty element');
  });

  test('a path glob is relative to the workspace, without a leading / or a .. segment', () => {
    for (const path of ['src/**', '**/.env*', '.github/**', 'a..b/*']) assert.ok(accepted(PathRule, { effect: 'deny', match: { path } }), path);
    for (const path of ['/etc/**', '../x', 'src/../.env', '..', '']) assert.equal(accepted(PathRule, { effect: 'deny', match: { path } }), false, path);
  });

  test('http: a DomainPattern host, known methods, a path prefix starting with /', () => {
    assert.ok(accepted(HttpRule, { effect: 'allow', match: { methods: ['GET', 'HEAD'], host: '*.example.com', pathPrefix: '/api' } }));
    for (const match of [{ host: 'Example.com' }, { host: '10.0.0.1' }, { host: 'a.com', pathPrefix: 'api' }, { host: 'a.com', methods: ['PATCH'] }, { host: 'a.com', methods: [] }]) {
      assert.equal(accepted(HttpRule, { effect: 'allow', match }), false, JSON.stringify(match));
    }
    assert.ok(accepted(HttpRule, { effect: 'allow', match: { host: 'a.com' }, examples: { matches: ['GET https://a.com/x'] } }));
    assert.equal(accepted(HttpRule, { effect: 'allow', match: { host: 'a.com' }, examples: { matches: ['https://a.com/x'] } }), false);
  });

  test('tasks: known tools only, at least one', () => {
    assert.ok(accepted(TaskRule, { effect: 'allow', match: { tools: ['read_file'] } }));
    assert.equal(accepted(TaskRule, { effect: 'allow', match: { tools: ['llm_task'] } }), false);
    assert.equal(accepted(TaskRule, { effect: 'allow', match: { tools: [] } }), false);
  });

  test(`reviewers (1 to ${MAX_REVIEWERS}) and selfReview belong to ask rules only`, () => {
    const rule = (extra: object) => ({ match: { path: 'src/**' }, ...extra });
    assert.ok(accepted(PathRule, rule({ effect: 'ask', reviewers: MAX_REVIEWERS, selfReview: 'model-calls' })));
    assert.equal(accepted(PathRule, rule({ effect: 'ask', reviewers: MAX_REVIEWERS + 1 })), false);
    assert.equal(accepted(PathRule, rule({ effect: 'ask', reviewers: 0 })), false);
    assert.equal(accepted(PathRule, rule({ effect: 'allow', reviewers: 2 })), false);
    assert.equal(accepted(PathRule, rule({ effect: 'deny', selfReview: 'model-calls' })), false);
    assert.equal(accepted(PathRule, rule({ effect: 'ask', selfReview: 'always' })), false);
    assert.equal(accepted(PathRule, rule({ effect: 'ask', unknown: 1 })), false, 'a typo is refused, not ignored');
  });

  test('an old certificate without rules still parses, and one with rules carries them', () => {
    const policy = {
      status: 'approved',
      policyId: 'p',
      policyVersion: 1,
      capabilities: ['run_command'],
      approvalRequired: ['run_command'],
      maxTokensPerDay: 0,
      maxRequestsPerHour: 0,
      policyExpiresAt: 1,
      approvalTimeoutMs: 1,
      allowedDomains: [],
      commandLimits: MAX_COMMAND_LIMITS,
    };
    assert.ok(accepted(CertifiedPolicy, policy));
    assert.ok(accepted(CertifiedPolicy, { ...policy, rules: { run_command: { rules: [{ effect: 'deny', match: { argv: ['rm', '*'] } }] } } }));
  });
});

describe('rule budgets, at the bound and the bound + 1', () => {
  const argvRule = (argv: string[]) => ({ effect: 'deny', match: { argv } });

  test('BUDGETS.policyRules: rules of all capabilities together', () => {
    const limit = BUDGETS.policyRules.limit;
    const rules = (n: number) => Array.from({ length: n }, (_, i) => argvRule([`c${i}`]));
    assert.equal(issueOf({ run_command: { rules: rules(limit) } }), undefined);
    assert.equal(issueOf({ run_command: { rules: rules(limit - 1) }, read_file: { rules: [{ effect: 'deny', match: { path: 'a' } }] } }), undefined);
    assert.match(issueOf({ run_command: { rules: rules(limit + 1) } })!, /.+/);
    assert.equal(
      issueOf({ run_command: { rules: rules(limit) }, read_file: { rules: [{ effect: 'deny', match: { path: 'a' } }] } }),
      `at most ${limit} rules in one policy`,
    );
  });

  test('BUDGETS.policyRulesBytes: the rules as JSON, examples included', () => {
    const limit = BUDGETS.policyRulesBytes.limit;
    /** A rule set whose JSON is exactly `bytes` long: full 256-byte globs, then one of the length left. */
    const ofBytes = (bytes: number) => {
      const paths: string[] = [];
      const size = () => Buffer.byteLength(JSON.stringify({ write_file: { rules: paths.map((path) => ({ effect: 'deny', match: { path } })) } }));
      for (;;) {
        paths.push('x');
        const left = bytes - size();
        if (left <= BUDGETS.rulePatternBytes.limit - 1) {
          paths[paths.length - 1] = 'x'.repeat(1 + left);
          break;
        }
        paths[paths.length - 1] = 'x'.repeat(BUDGETS.rulePatternBytes.limit);
      }
      const rules = { write_file: { rules: paths.map((path) => ({ effect: 'deny', match: { path } })) } };
      assert.equal(Buffer.byteLength(JSON.stringify(rules)), bytes);
      return rules;
    };
    assert.equal(issueOf(ofBytes(limit)), undefined);
    assert.equal(issueOf(ofBytes(limit + 1)), `the rules take more than ${limit} bytes as JSON`);
  });

  test('BUDGETS.rulePatternBytes: an argv element, a glob and a path prefix, counted in UTF-8 bytes', () => {
    const limit = BUDGETS.rulePatternBytes.limit;
    const text = (bytes: number) => '\u00e9'.repeat(Math.floor(bytes / 2)) + 'x'.repeat(bytes % 2);
    for (const [bytes, ok] of [[limit, true], [limit + 1, false]] as const) {
      assert.equal(accepted(CommandRule, argvRule(['git', text(bytes)])), ok, `argv element of ${bytes} bytes`);
      assert.equal(accepted(PathRule, { effect: 'deny', match: { path: text(bytes) } }), ok, `glob of ${bytes} bytes`);
      assert.equal(accepted(HttpRule, { effect: 'deny', match: { host: 'a.com', pathPrefix: `/${text(bytes - 1)}` } }), ok, `prefix of ${bytes} bytes`);
    }
  });

  test('BUDGETS.ruleArgvItems: elements of one argv pattern', () => {
    const limit = BUDGETS.ruleArgvItems.limit;
    assert.ok(accepted(CommandRule, argvRule(['git', ...Array<string>(limit - 1).fill('*')])));
    assert.equal(accepted(CommandRule, argvRule(['git', ...Array<string>(limit).fill('*')])), false);
  });

  test('BUDGETS.ruleExamples: examples on each side of one rule', () => {
    const limit = BUDGETS.ruleExamples.limit;
    const examples = (n: number) => Array.from({ length: n }, (_, i) => `src/${i}`);
    for (const side of ['matches', 'doesNotMatch']) {
      assert.ok(accepted(PathRule, { effect: 'allow', match: { path: 'src/*' }, examples: { [side]: examples(limit) } }), side);
      assert.equal(accepted(PathRule, { effect: 'allow', match: { path: 'src/*' }, examples: { [side]: examples(limit + 1) } }), false, side);
    }
  });
});

describe('hostile rule documents', () => {
  test('an empty argv is refused by safeParse, never thrown out of it (zod runs refinements after a failed min)', () => {
    assert.doesNotThrow(() => PolicyRules.safeParse({ run_command: { rules: [{ effect: 'deny', match: { argv: [] } }] } }));
    assert.equal(issueOf({ run_command: { rules: [{ effect: 'deny', match: { argv: [] } }] } }) !== undefined, true);
  });

  test('wrong types anywhere are refused, not thrown', () => {
    const documents: unknown[] = [null, 5, [], { run_command: 5 }, { run_command: { rules: 5 } }, { run_command: { rules: [5] } }, { run_command: { rules: [{ effect: 'deny', match: { argv: [5] } }] } }, { read_file: { rules: [{ effect: 'deny', match: { path: 5 } }] } }, { http_fetch: { rules: [{ effect: 'deny', match: { host: 'a.com', pathPrefix: 5 } }] } }, { write_file: { default: 'maybe', rules: [] } }];
    for (const document of documents) assert.equal(PolicyRules.safeParse(document).success, false, JSON.stringify(document));
  });
});
