import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkCallRules, checkPolicyRules, decideCall, describeRule, exactAllowRule, mayAsk, type HostFacts } from '../../../core/policy/rules';
import type { Capability } from '../../../core/wire/policy';
import { PolicyRules } from '../../../core/wire/policy-rules';
import type { IntentCall } from '../../../core/wire/task';

const run = (command: string, ...args: string[]): IntentCall => ({ capability: 'run_command', params: { command, args, cwd: '.', timeoutMs: 1_000 } });
const write = (path: string): IntentCall => ({ capability: 'write_file', params: { path, content: '', mode: 'overwrite' } });
const read = (path: string): IntentCall => ({ capability: 'read_file', params: { path } });
const fetch = (method: 'GET' | 'POST', url: string): IntentCall => ({ capability: 'http_fetch', params: { method, url, timeoutMs: 1_000 } });
const task = (tools?: ('read_file' | 'list_files' | 'write_file' | 'run_command' | 'http_fetch')[]): IntentCall => ({
  capability: 'llm_task',
  params: { instruction: 'go', ...(tools ? { tools } : {}) },
});

const policyOf = (rules: unknown, approvalRequired: Capability[] = []) => ({ approvalRequired, rules: PolicyRules.parse(rules) });
const effectOf = (policy: ReturnType<typeof policyOf>, call: IntentCall, facts?: HostFacts) => decideCall(policy, call, facts).effect;

const commands = policyOf({
  run_command: {
    default: 'ask',
    rules: [
      { effect: 'deny', match: { argv: ['rm', '*', '-rf', '*'] }, note: 'no recursive deletes' },
      { effect: 'allow', match: { argv: ['git', 'status', '*'] } },
      { effect: 'allow', match: { argv: ['npm', 'test'] } },
      { effect: 'ask', reviewers: 2, match: { argv: ['git', 'push', '*'] } },
      { effect: 'allow', match: { argv: ['/usr/bin/make'] } },
    ],
  },
});

describe('decideCall: run_command rules', () => {
  test('first match wins, then the default; a "*" stands for any further arguments, none included', () => {
    assert.equal(effectOf(commands, run('git', 'status')), 'allow');
    assert.equal(effectOf(commands, run('git', 'status', '--short', '-b')), 'allow');
    assert.equal(effectOf(commands, run('git', 'push', 'origin', 'main')), 'ask');
    assert.equal(decideCall(commands, run('git', 'push')).reviewers, 2);
    assert.equal(effectOf(commands, run('git', 'commit')), 'ask');
    assert.deepEqual(decideCall(commands, run('git', 'commit')).source, { kind: 'default', capability: 'run_command' });
  });

  test('without "*" the argv must be exactly the pattern: npm test, not npm test --watch nor npm', () => {
    assert.equal(effectOf(commands, run('npm', 'test')), 'allow');
    assert.equal(effectOf(commands, run('npm', 'test', '--', '--inspect')), 'ask');
    assert.equal(effectOf(commands, run('npm')), 'ask');
  });

  test('a planted ./git or workspace git never matches an allow rule; /usr/bin/git, spelled any way, does', () => {
    for (const command of ['git', '/usr/bin/git', '/bin/git', '/usr/local/bin/git', '/usr/bin/../bin/git', '//usr/bin/git']) {
      assert.equal(effectOf(commands, run(command, 'status')), 'allow', command);
    }
    for (const command of ['./git', 'bin/git', '/work/ws/git', '/tmp/git', '/usr/bin/git/../../../tmp/git']) {
      assert.equal(effectOf(commands, run(command, 'status')), 'ask', command);
    }
  });

  test('an absolute rule matches its path and a bare command the host resolved to it', () => {
    assert.equal(effectOf(commands, run('/usr/bin/make')), 'allow');
    assert.equal(effectOf(commands, run('/usr/bin/./make')), 'allow');
    assert.equal(effectOf(commands, run('make')), 'ask');
    assert.equal(effectOf(commands, run('make'), { executable: '/usr/bin/make' }), 'allow');
    assert.equal(effectOf(commands, run('make'), { executable: '/work/ws/make' }), 'ask');
  });

  test('a deny rule matches broadly: any path ending in the name, any case; deny wins', () => {
    for (const command of ['rm', './rm', '../../bin/rm', '/usr/bin/rm', 'RM', '/tmp/Rm']) {
      const decision = decideCall(commands, run(command, '-rf', '/'));
      assert.equal(decision.effect, 'deny', command);
      assert.deepEqual(checkCallRules(decision), { ok: false, reason: 'rule-denied', message: 'refused by run_command rule 1: deny ["rm","*","-rf","*"] (no recursive deletes)' });
    }
    assert.equal(effectOf(commands, run('rm', 'x', '-RF', 'y')), 'deny');
  });

  test('Unicode look-alikes and case variants do not match an allow rule', () => {
    assert.equal(effectOf(commands, run('g\u0456t', 'status')), 'ask');
    assert.equal(effectOf(commands, run('Git', 'status')), 'ask');
    assert.equal(effectOf(commands, run('git', 'St\u0430tus')), 'ask');
  });
});

const files = policyOf({
  write_file: {
    rules: [
      { effect: 'deny', match: { path: '**/.env*' } },
      { effect: 'ask', reviewers: 2, match: { path: '.github/**' } },
      { effect: 'allow', match: { path: 'src/**' } },
    ],
  },
  read_file: { default: 'deny', rules: [{ effect: 'allow', match: { path: 'docs/*.md' } }] },
}, ['write_file']);

describe('decideCall: path rules', () => {
  test('globs: ** is any number of whole segments, * stays within one, dot-files are names like any other', () => {
    assert.equal(effectOf(files, write('src/a.ts')), 'allow');
    assert.equal(effectOf(files, write('src/deep/er/a.ts')), 'allow');
    assert.equal(effectOf(files, write('src/.hidden')), 'allow');
    assert.equal(effectOf(files, write('.env')), 'deny');
    assert.equal(effectOf(files, write('src/config/.env.local')), 'deny');
    assert.equal(effectOf(files, read('docs/a.md')), 'allow');
    assert.equal(effectOf(files, read('docs/sub/a.md')), 'deny');
    assert.equal(effectOf(files, write('README.md')), 'ask', 'no rule: the default, ask as approvalRequired says');
  });

  test('./, // and .. are resolved before matching; a path out of the workspace matches no allow rule', () => {
    assert.equal(effectOf(files, write('./src//a.ts')), 'allow');
    assert.equal(effectOf(files, write('src/../.github/workflows/ci.yml')), 'ask');
    assert.equal(effectOf(files, write('src/../.env')), 'deny');
    assert.equal(effectOf(files, write('../src/a.ts')), 'ask');
    assert.equal(effectOf(files, write('/src/a.ts')), 'ask');
  });

  test('deny matches case-insensitively, allow exactly', () => {
    assert.equal(effectOf(files, write('.ENV')), 'deny');
    assert.equal(effectOf(files, write('SRC/a.ts')), 'ask');
  });

  test('a symlink: the strictest verdict of the lexical path and every real path holds', () => {
    assert.equal(effectOf(files, write('src/link'), { realPaths: ['.env'] }), 'deny');
    const viaLink = decideCall(files, write('src/link'), { realPaths: ['.github/workflows/ci.yml'] });
    assert.equal(viaLink.effect, 'ask');
    assert.equal(viaLink.reviewers, 2);
  });
});

describe('decideCall: http_fetch and llm_task rules', () => {
  const policy = policyOf({
    http_fetch: {
      default: 'deny',
      rules: [
        { effect: 'allow', match: { methods: ['GET'], host: 'registry.npmjs.org', pathPrefix: '/api' } },
        { effect: 'ask', match: { host: '*.example.com' } },
      ],
    },
    llm_task: { default: 'ask', rules: [{ effect: 'allow', match: { tools: ['read_file', 'list_files'] } }] },
  });

  test('method, host and a path prefix at a segment boundary', () => {
    assert.equal(effectOf(policy, fetch('GET', 'https://registry.npmjs.org/api')), 'allow');
    assert.equal(effectOf(policy, fetch('GET', 'https://REGISTRY.npmjs.org/api/react?x=1')), 'allow');
    assert.equal(effectOf(policy, fetch('GET', 'https://registry.npmjs.org/api2')), 'deny');
    assert.equal(effectOf(policy, fetch('GET', 'https://registry.npmjs.org/api/../admin')), 'deny');
    assert.equal(effectOf(policy, fetch('POST', 'https://registry.npmjs.org/api')), 'deny');
    assert.equal(effectOf(policy, fetch('POST', 'https://a.example.com/')), 'ask');
    assert.equal(effectOf(policy, fetch('GET', 'https://example.com/')), 'deny');
  });

  test('a task matches when every tool it may use is among the rule tools; no tool list is every tool', () => {
    assert.equal(effectOf(policy, task(['read_file'])), 'allow');
    assert.equal(effectOf(policy, task(['read_file', 'write_file'])), 'ask');
    assert.equal(effectOf(policy, task()), 'ask');
  });
});

describe('an old policy without rules', () => {
  test('decides exactly as approvalRequired did', () => {
    const calls = [run('rm', '-rf', '/'), write('.env'), read('a'), fetch('GET', 'https://x.test/'), task()];
    for (const approvalRequired of [[], ['run_command', 'write_file'], ['llm_task', 'read_file', 'http_fetch']] as Capability[][]) {
      for (const call of calls) {
        const decision = decideCall({ approvalRequired }, call);
        const asks = approvalRequired.includes(call.capability);
        assert.equal(decision.effect, asks ? 'ask' : 'allow', call.capability);
        assert.equal(decision.reviewers, asks ? 1 : 0);
        assert.deepEqual(decision.source, { kind: 'approvalRequired', capability: call.capability });
        assert.equal(mayAsk({ approvalRequired }, call.capability) || call.capability === 'llm_task', asks || call.capability === 'llm_task');
      }
    }
  });
});

describe('checkPolicyRules, exactAllowRule, describeRule', () => {
  test('an example that fails names the rule, the example and the path into the document', () => {
    const rules = PolicyRules.parse({
      run_command: {
        rules: [
          { effect: 'allow', match: { argv: ['git', 'status'] }, examples: { matches: [['git', 'status']] } },
          { effect: 'deny', match: { argv: ['rm', '*'] } },
          { effect: 'ask', match: { argv: ['git', 'push', '*'] }, examples: { matches: [['git', 'push']], doesNotMatch: [['git', 'status']] } },
        ],
      },
    });
    assert.equal(checkPolicyRules(rules, ['run_command']), undefined, 'each example is checked against its own rule alone');
    const wrong = PolicyRules.parse({ run_command: { rules: [...rules.run_command!.rules.slice(0, 2), { effect: 'ask', match: { argv: ['git', '*'] }, examples: { doesNotMatch: [['git', 'status']] } }] } });
    assert.deepEqual(checkPolicyRules(wrong, ['run_command']), {
      path: ['run_command', 'rules', 2, 'examples', 'doesNotMatch', 0],
      message: 'run_command rule 3 (ask ["git","*"]): example ["git","status"] should not match but does',
    });
    assert.deepEqual(checkPolicyRules(rules, ['read_file']), { path: ['run_command'], message: 'rules for run_command, which this policy does not grant' });
  });

  test('exactAllowRule is never broader than the call', () => {
    assert.deepEqual(exactAllowRule(run('git', 'status')), { capability: 'run_command', rule: { effect: 'allow', match: { argv: ['git', 'status'] } } });
    assert.equal(exactAllowRule(run('./git', 'status')), null);
    assert.equal(exactAllowRule(run('ls', '*')), null);
    assert.deepEqual(exactAllowRule(write('./src//a*.ts')), { capability: 'write_file', rule: { effect: 'allow', match: { path: 'src/a\\*.ts' } } });
    assert.deepEqual(exactAllowRule(fetch('GET', 'https://Registry.npmjs.org/react?x')), {
      capability: 'http_fetch',
      rule: { effect: 'allow', match: { methods: ['GET'], host: 'registry.npmjs.org', pathPrefix: '/react' } },
    });
    assert.deepEqual(exactAllowRule(task(['write_file', 'read_file'])), { capability: 'llm_task', rule: { effect: 'allow', match: { tools: ['read_file', 'write_file'] } } });
    for (const call of [run('git', 'status'), write('src/a*.ts'), fetch('GET', 'https://registry.npmjs.org/react'), task(['read_file'])]) {
      const exact = exactAllowRule(call)!;
      const policy = policyOf({ [exact.capability]: { default: 'deny', rules: [exact.rule] } });
      assert.equal(effectOf(policy, call), 'allow');
    }
    const star = policyOf({ write_file: { default: 'deny', rules: [exactAllowRule(write('src/a*.ts'))!.rule] } });
    assert.equal(effectOf(star, write('src/abc.ts')), 'deny');
  });

  test('describeRule in short words', () => {
    assert.equal(describeRule('run_command', { effect: 'deny', match: { argv: ['rm', '*'] } }), 'deny ["rm","*"]');
    assert.equal(describeRule('write_file', { effect: 'ask', reviewers: 2, match: { path: 'src/**' }, note: 'reviewed code' }), 'ask src/** (2 reviewers) (reviewed code)');
  });
});
