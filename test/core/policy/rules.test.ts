import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { checkCallRules, checkPolicyRules, chosenByOf, decideCall, describeRule, exactAllowRule, mayAsk, modelOnlyRule, type HostFacts } from '../../../core/policy/rules';
import type { Capability } from '../../../core/wire/policy';
import { PolicyRules } from '../../../core/wire/policy-rules';
import type { IntentCall } from '../../../core/wire/task';
import { fuzzParameters } from '../../fault/support/fuzz-budget';
import { ROOT } from '../../support/processes';

const run = (command: string, ...args: string[]): IntentCall => ({ capability: 'run_command', params: { command, args, cwd: '.', timeoutMs: 1_000 } });
const write = (path: string): IntentCall => ({ capability: 'write_file', params: { path, content: '', mode: 'overwrite' } });
const read = (path: string): IntentCall => ({ capability: 'read_file', params: { path } });
const fetch = (method: 'GET' | 'POST', url: string): IntentCall => ({ capability: 'http_fetch', params: { method, url, timeoutMs: 1_000 } });
const task = (tools?: ('read_file' | 'list_files' | 'write_file' | 'run_command' | 'http_fetch')[]): IntentCall => ({
  capability: 'llm_task',
  params: { instruction: 'go', ...(tools ? { tools } : {}) },
});

const policyOf = (rules: unknown, approvalRequired: Capability[] = []) => ({ approvalRequired, rules: PolicyRules.parse(rules) });
const effectOf = (policy: ReturnType<typeof policyOf>, call: IntentCall, facts?: HostFacts) => decideCall(policy, call, 'person', facts).effect;

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
    assert.equal(decideCall(commands, run('git', 'push'), 'person').reviewers, 2);
    assert.equal(effectOf(commands, run('git', 'commit')), 'ask');
    assert.deepEqual(decideCall(commands, run('git', 'commit'), 'person').source, { kind: 'default', capability: 'run_command' });
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
    assert.equal(effectOf(commands, run('make'), { executables: ['/usr/bin/make'] }), 'allow');
    assert.equal(effectOf(commands, run('make'), { executables: ['/work/ws/make'] }), 'ask');
  });

  test('a deny rule matches broadly: any path ending in the name, any case; deny wins', () => {
    for (const command of ['rm', './rm', '../../bin/rm', '/usr/bin/rm', 'RM', '/tmp/Rm']) {
      const decision = decideCall(commands, run(command, '-rf', '/'), 'person');
      assert.equal(decision.effect, 'deny', command);
      assert.deepEqual(checkCallRules(decision), { ok: false, reason: 'rule-denied', message: 'refused by run_command rule 1: deny ["rm","*","-rf","*"] (no recursive deletes)' });
    }
    assert.equal(effectOf(commands, run('rm', 'x', '-RF', 'y')), 'ask', 'arguments compare exactly, for deny too');
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
    const viaLink = decideCall(files, write('src/link'), 'person', { realPaths: ['.github/workflows/ci.yml'] });
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
        const decision = decideCall({ approvalRequired }, call, 'person');
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
    assert.equal(checkPolicyRules(rules), undefined, 'each example is checked against its own rule alone');
    const wrong = PolicyRules.parse({ run_command: { rules: [...rules.run_command!.rules.slice(0, 2), { effect: 'ask', match: { argv: ['git', '*'] }, examples: { doesNotMatch: [['git', 'status']] } }] } });
    assert.deepEqual(checkPolicyRules(wrong), {
      path: ['run_command', 'rules', 2, 'examples', 'doesNotMatch', 0],
      message: 'run_command rule 3 (ask ["git","*"]): example ["git","status"] should not match but does',
    });
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
    for (const call of [fetch('GET', 'https://127.0.0.1/x'), fetch('GET', 'https://a.test/a%2Fb'), write('../x'), run('git', ''), run('git', ...Array<string>(40).fill('x'))]) {
      assert.equal(exactAllowRule(call), null, JSON.stringify(call.params));
    }
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

describe('decideCall: reviewers, self-review and the default', () => {
  const policy = policyOf(
    {
      write_file: {
        rules: [
          { effect: 'ask', selfReview: 'model-calls', match: { path: 'src/**' } },
          { effect: 'ask', reviewers: 3, match: { path: 'infra/**' } },
        ],
      },
      read_file: { rules: [{ effect: 'deny', match: { path: 'secret' } }] },
    },
    ['write_file'],
  );

  test('an ask rule gives its reviewers (1 when absent) and selfReview only with "model-calls"', () => {
    assert.deepEqual(
      (({ effect, reviewers, selfReview }) => ({ effect, reviewers, selfReview }))(decideCall(policy, write('src/a'), 'person')),
      { effect: 'ask', reviewers: 1, selfReview: true },
    );
    assert.equal(decideCall(policy, write('infra/main.tf'), 'person').reviewers, 3);
    assert.equal(decideCall(policy, write('infra/main.tf'), 'person').selfReview, false);
    assert.equal(decideCall(policy, read('secret'), 'person').reviewers, 0);
  });

  test('a rules entry without a default defaults as approvalRequired says', () => {
    assert.equal(effectOf(policy, write('README.md')), 'ask', 'write_file is in approvalRequired');
    assert.equal(effectOf(policy, read('README.md')), 'allow', 'read_file is not');
    assert.equal(decideCall(policy, read('README.md'), 'person').description, 'read_file default: allow (not in approvalRequired)');
  });

  test('through a symlink, the ask needing more reviewers, then the one a requester may not self-review, holds', () => {
    const viaLink = decideCall(policy, write('src/link'), 'person', { realPaths: ['infra/x'] });
    assert.deepEqual([viaLink.reviewers, viaLink.selfReview], [3, false]);
    const selfReviewed = decideCall(policy, write('src/a'), 'person', { realPaths: ['README.md'] });
    assert.deepEqual([selfReviewed.reviewers, selfReviewed.selfReview, selfReviewed.source.kind], [1, false, 'default']);
  });

  test('a deny through a symlink is final whatever the lexical path allows', () => {
    assert.equal(effectOf(policy, read('public/a'), { realPaths: ['secret'] }), 'deny');
    assert.equal(effectOf(policy, read('public/a'), { realPaths: ['./SECRET'] }), 'deny');
  });
});

describe('mayAsk', () => {
  test('approvalRequired without rules, an ask rule, an ask default; a task when any tool may ask', () => {
    assert.equal(mayAsk({ approvalRequired: ['write_file'] }, 'write_file'), true);
    assert.equal(mayAsk({ approvalRequired: [] }, 'write_file'), false);
    assert.equal(mayAsk(policyOf({ write_file: { default: 'allow', rules: [] } }, ['write_file']), 'write_file'), false, 'an explicit default overrides approvalRequired');
    assert.equal(mayAsk(policyOf({ write_file: { default: 'deny', rules: [{ effect: 'ask', match: { path: 'a' } }] } }), 'write_file'), true);
    assert.equal(mayAsk(policyOf({ write_file: { default: 'ask', rules: [] } }), 'write_file'), true);
    assert.equal(mayAsk(policyOf({ write_file: { rules: [] } }, ['write_file']), 'write_file'), true);
    assert.equal(mayAsk(policyOf({ run_command: { default: 'ask', rules: [] } }), 'llm_task'), true, "a task's model may call run_command");
    assert.equal(mayAsk({ approvalRequired: [] }, 'llm_task'), false);
  });
});

/** The README's rule set for a build machine (examples/rules/build-machine.json). */
const buildMachine = policyOf(JSON.parse(readFileSync(join(ROOT, 'examples', 'rules', 'build-machine.json'), 'utf8')));

describe('attacks on the build-machine rule set: getting a denied command through', () => {
  test('its own examples hold', () => {
    assert.equal(checkPolicyRules(buildMachine.rules), undefined);
  });

  test('argument order: deny ["rm","*","-rf","*"] catches -rf anywhere; -fr has its own deny; every other spelling asks', () => {
    const table: [string[], 'deny' | 'ask'][] = [
      [['rm', '-rf', '/'], 'deny'],
      [['rm', '/', '-rf'], 'deny'],
      [['rm', '--', '-rf'], 'deny'],
      [['rm', '-fr', '/'], 'deny'],
      [['rm', '-r', '-f', '/'], 'ask'],
      [['rm', '-f', '-r', '/'], 'ask'],
      [['rm', '-Rf', '/'], 'ask'],
      [['rm', '-rfv', '/'], 'ask'],
      [['rm', '--recursive', '--force', '/'], 'ask'],
      [['/bin/rm', '-r', '/'], 'ask'],
      [['./rm', '-r', '/'], 'ask'],
      [['./rm', '-rf', '/'], 'deny'],
    ];
    for (const [[command, ...args], effect] of table) assert.equal(effectOf(buildMachine, run(command!, ...args)), effect, [command, ...args].join(' '));
  });

  test('wrappers and launchers are denied whatever they wrap, however the launcher is spelled', () => {
    const wrapped: string[][] = [
      ['env', 'rm', '-rf', '/'],
      ['env', '-i', 'PATH=/bin', 'git', 'push'],
      ['/usr/bin/env', 'git', 'push'],
      ['./env', 'git', 'push'],
      ['sh', '-c', 'git push'],
      ['bash', '-c', 'npm test && rm -rf /'],
      ['/bin/dash', '-c', 'x'],
      ['BASH', '-c', 'x'],
      ['xargs', '-0', 'rm'],
      ['nohup', 'git', 'push'],
      ['timeout', '5', 'git', 'push'],
      ['nice', '-n', '5', 'git', 'push'],
      ['setsid', 'git', 'push'],
      ['sudo', 'git', 'status'],
      ['su', '-c', 'id'],
      ['busybox', 'rm', '-rf', '/'],
      ['python3', '-c', 'import os'],
      ['/usr/bin/python3', '-I', '-c', 'x'],
      ['perl', 'script.pl'],
      ['node', '-e', 'require("child_process")'],
      ['node', '--eval', 'x'],
      ['find', '.', '-exec', 'rm', '{}', ';'],
      ['find', '.', '-name', '*.ts', '-execdir', 'sh', '{}', '+'],
      ['find', '.', '-delete'],
      ['git', '-c', 'core.pager=sh -c id', 'log'],
      ['git', '--exec-path', '/tmp', 'status'],
      ['git', 'fetch', '--upload-pack', 'sh -c id'],
      ['npx', 'some-package'],
      ['npm', 'exec', 'some-package'],
      ['npm', 'x', 'some-package'],
    ];
    for (const [command, ...args] of wrapped) {
      const decision = decideCall(buildMachine, run(command!, ...args), 'person');
      assert.equal(decision.effect, 'deny', [command, ...args].join(' '));
      assert.equal(checkCallRules(decision).ok, false);
    }
  });

  test('read-only git and the build are allowed; a push needs two reviewers; a planted git or a look-alike asks', () => {
    for (const argv of [['git', 'status'], ['/usr/bin/git', 'status', '--short'], ['git', 'diff'], ['git', 'log', '--oneline'], ['npm', 'test'], ['npm', 'run', 'build'], ['npx', 'tsc', '--noEmit']]) {
      assert.equal(effectOf(buildMachine, run(argv[0]!, ...argv.slice(1))), 'allow', argv.join(' '));
    }
    // Options before the subcommand do not make a push a lesser one (git -C dir push).
    for (const argv of [['git', 'push', 'origin', 'main'], ['git', '-C', '.', 'push'], ['git', '--git-dir=.git', 'push', '--force'], ['git', '--no-pager', 'push']]) {
      const push = decideCall(buildMachine, run(argv[0]!, ...argv.slice(1)), 'person');
      assert.deepEqual([push.effect, push.reviewers], ['ask', 2], argv.join(' '));
    }
    for (const argv of [['./git', 'status'], ['/work/ws/git', 'status'], ['g\u0456t', 'status'], ['git', 'diff', '--output=.github/workflows/ci.yml'], ['git', '-C', 'sub', 'status'], ['npm', 'run', 'deploy']]) {
      assert.equal(effectOf(buildMachine, run(argv[0]!, ...argv.slice(1))), 'ask', argv.join(' '));
    }
  });

  test('a very long argv (257 arguments of 8 KiB) is decided like a short one', () => {
    const long = Array<string>(256).fill('x'.repeat(8192));
    assert.equal(effectOf(buildMachine, run('npm', 'test', ...long.slice(1))), 'allow');
    assert.equal(effectOf(buildMachine, run('git', ...long.slice(2), '-rf', 'push')), 'ask');
    assert.equal(effectOf(buildMachine, run('find', ...long.slice(1), '-exec')), 'deny');
  });

  test('secrets and .git are denied to every file tool, however the path is spelled or reached', () => {
    for (const path of ['.env', 'app/.env.production', './.env', 'src/../.env', 'src//.ENV', 'certs/server.pem', 'deploy/id_rsa', '.git/config', '.git/hooks/pre-commit', 'vendor/lib/.git/HEAD', '.npmrc']) {
      for (const call of [read(path), write(path)]) assert.equal(effectOf(buildMachine, call), 'deny', `${call.capability} ${path}`);
    }
    assert.equal(effectOf(buildMachine, { capability: 'list_files', params: { path: '.git' } }), 'deny');
    assert.equal(effectOf(buildMachine, read('src/config.ts'), { realPaths: ['.env'] }), 'deny', 'a symlink to a secret');
    assert.equal(effectOf(buildMachine, write('src/a.ts'), { realPaths: ['.github/workflows/ci.yml'] }), 'ask', 'a symlink into .github');
  });

  test('workspace configuration asks, source is allowed, the rest asks', () => {
    for (const path of ['.github/workflows/ci.yml', '.vscode/tasks.json', 'package.json', 'packages/a/package.json', 'package-lock.json', 'yarn.lock']) assert.equal(effectOf(buildMachine, write(path)), 'ask', path);
    for (const path of ['src/index.ts', 'test/a.test.ts', 'src/.eslintrc.json']) assert.equal(effectOf(buildMachine, write(path)), 'allow', path);
    for (const path of ['README.md', '../outside', '/etc/passwd', 'src2/a.ts']) assert.equal(effectOf(buildMachine, write(path)), 'ask', path);
  });
});

describe('respelling a path never changes its decision', () => {
  test('./, // and x/.. inserted anywhere in a workspace path decide as the plain path (build-machine rules)', () => {
    const segment = fc.constantFrom('src', '.env', '.git', 'config', '.github', 'a.pem', 'package.json', 'id_rsa', 'x');
    const noise = fc.constantFrom('', './', '/', 'zz/../', '././');
    fc.assert(
      fc.property(fc.array(fc.tuple(noise, segment), { minLength: 1, maxLength: 5 }), (parts) => {
        const plain = parts.map(([, s]) => s).join('/');
        // A leading / would make the path absolute: another path, not another spelling.
        const respelt = parts.map(([n, s], i) => `${i === 0 ? n.replace(/^\/+/, '') : n}${s}`).join('/');
        for (const call of [read, write]) {
          assert.equal(decideCall(buildMachine, call(respelt), 'person').description, decideCall(buildMachine, call(plain), 'person').description, `${respelt} vs ${plain}`);
        }
      }),
      fuzzParameters(1_000, 15_000),
    );
  });
});

describe('chosenBy "model": rules for the calls a model chose (issue 18)', () => {
  const modelRules = policyOf({
    run_command: {
      default: 'allow',
      rules: [
        { effect: 'deny', chosenBy: 'model', match: { argv: ['curl', '*'] } },
        { effect: 'ask', chosenBy: 'model', selfReview: 'model-calls', match: { argv: ['npm', '*'] } },
        { effect: 'ask', reviewers: 2, match: { argv: ['npm', 'publish', '*'] } },
      ],
    },
  });

  test('a model-only rule decides a model\'s call and is skipped for a person\'s, which falls through to the next rules and the default', () => {
    assert.deepEqual((({ effect, selfReview, source }) => ({ effect, selfReview, source }))(decideCall(modelRules, run('npm', 'test'), 'model')), {
      effect: 'ask',
      selfReview: true,
      source: { kind: 'rule', capability: 'run_command', index: 1 },
    });
    assert.deepEqual(decideCall(modelRules, run('npm', 'test'), 'person').source, { kind: 'default', capability: 'run_command' });
    assert.equal(decideCall(modelRules, run('curl', 'https://x'), 'model').effect, 'deny');
    assert.equal(decideCall(modelRules, run('curl', 'https://x'), 'person').effect, 'allow');
    // First match wins for a model too: its npm publish meets the model-only ask first.
    assert.equal(decideCall(modelRules, run('npm', 'publish'), 'model').reviewers, 1);
    assert.equal(decideCall(modelRules, run('npm', 'publish'), 'person').reviewers, 2);
    assert.match(decideCall(modelRules, run('npm', 'test'), 'model').description, /^run_command rule 2: ask \["npm","\*"\] \(model calls: self-review\) \(calls a model chose\)$/);
  });

  test('chosenByOf: a signed via makes the call a model\'s, its absence a person\'s', () => {
    assert.equal(chosenByOf('vscode-lm'), 'model');
    assert.equal(chosenByOf('mcp:Claude Code'), 'model');
    assert.equal(chosenByOf(undefined), 'person');
  });

  test('modelOnlyRule names the first rule with chosenBy, or nothing', () => {
    assert.equal(modelOnlyRule(modelRules.rules), 'run_command rule 1');
    assert.equal(modelOnlyRule(commands.rules), undefined);
    assert.equal(modelOnlyRule(buildMachine.rules), 'run_command rule 55');
  });

  test("the build-machine rules: a model's npm test waits for a reviewer (its requester may approve), a person's runs; a model's npm exec is still denied", () => {
    const byModel = decideCall(buildMachine, run('npm', 'test'), 'model');
    assert.deepEqual([byModel.effect, byModel.reviewers, byModel.selfReview], ['ask', 1, true]);
    assert.equal(decideCall(buildMachine, run('npm', 'test'), 'person').effect, 'allow');
    const build = decideCall(buildMachine, run('npm', 'run', 'build'), 'model');
    assert.deepEqual([build.effect, build.selfReview], ['ask', false]);
    assert.equal(effectOf(buildMachine, run('npm', 'run', 'build')), 'allow');
    for (const argv of [['npm', 'exec', 'x'], ['npx', 'cowsay'], ['sh', '-c', 'id']]) assert.equal(decideCall(buildMachine, run(argv[0]!, ...argv.slice(1)), 'model').effect, 'deny', argv.join(' '));
    assert.deepEqual(decideCall(buildMachine, run('git', 'push'), 'model').reviewers, 2, 'a model pushes with two reviewers like anyone');
    assert.equal(decideCall(buildMachine, run('git', 'status'), 'model').effect, 'allow');
  });
});
