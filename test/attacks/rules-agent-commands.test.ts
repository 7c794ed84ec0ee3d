/**
 * Issue 16, agent side: run_command rules against the ways a denied command is usually smuggled past a rule —
 * another argument order, a launcher that runs it (env, sh -c, xargs, find -exec, nice, timeout), a binary
 * planted in the workspace under an allowed name. The real IntentRunner runs real commands in a temp workspace;
 * every attack aims at deleting victim.txt, so "it did not run" is a file still there, not only a reason.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { policy, RunnerHarness } from './support/runner-harness';

let harness: RunnerHarness | undefined;
afterEach(() => {
  harness?.cleanup();
  harness = undefined;
});

/** The launchers a build machine's rules deny outright: each runs whatever argv follows it. */
const LAUNCHERS = ['env', 'sh', 'bash', 'dash', 'xargs', 'nice', 'nohup', 'timeout', 'stdbuf', 'setsid', 'busybox', 'python3', 'perl', 'node'];

/** A build machine's commands: read-only git and tests run, pushes ask two people, deletes and launchers are refused. */
const BUILD_MACHINE: PolicyRules = {
  run_command: {
    default: 'ask',
    rules: [
      { effect: 'deny', match: { argv: ['rm', '*'] }, note: 'no deletes' },
      { effect: 'deny', match: { argv: ['find', '*', '-exec', '*'] }, note: 'find runs commands' },
      { effect: 'deny', match: { argv: ['find', '*', '-execdir', '*'] } },
      { effect: 'deny', match: { argv: ['find', '*', '-delete', '*'] } },
      { effect: 'deny', match: { argv: ['git', '*', 'push', '*'] }, note: 'pushes go through CI' },
      ...LAUNCHERS.map((name) => ({ effect: 'deny' as const, match: { argv: [name, '*'] }, note: 'launcher' })),
      { effect: 'allow', match: { argv: ['git', 'status', '*'] } },
      { effect: 'allow', match: { argv: ['git', 'diff', '*'] } },
      { effect: 'allow', match: { argv: ['ls', '*'] } },
    ],
  },
};

function setup(rules: PolicyRules = BUILD_MACHINE): RunnerHarness {
  const h = new RunnerHarness(policy({ capabilities: ['run_command', 'read_file'], approvalRequired: [], rules }));
  harness = h;
  writeFileSync(join(h.workspace, 'victim.txt'), 'keep me\n');
  writeFileSync(join(h.workspace, 'list.txt'), 'victim.txt\n');
  return h;
}

const victim = (h: RunnerHarness) => join(h.workspace, 'victim.txt');

async function expectDenied(h: RunnerHarness, command: string, args: string[]): Promise<string> {
  const body = h.intent({ capability: 'run_command', params: { command, args, cwd: '.', timeoutMs: 10_000 } });
  const r = await h.expectRefused(h.seal(body), body.id, 'rule-denied');
  assert.ok(existsSync(victim(h)), `${command} ${args.join(' ')} ran`);
  return r.message;
}

async function expectRan(h: RunnerHarness, command: string, args: string[]): Promise<void> {
  const body = h.intent({ capability: 'run_command', params: { command, args, cwd: '.', timeoutMs: 10_000 } });
  await h.expectSucceeded(h.seal(body), body.id);
}

describe('run_command rules on the agent', () => {
  test('Argument order: rm and git push are refused however their arguments are arranged or the program is spelled', async () => {
    const h = setup();
    for (const [command, ...args] of [
      ['rm', 'victim.txt'],
      ['rm', '-f', '--', 'victim.txt'],
      ['rm', '-r', '-f', 'victim.txt'],
      ['/usr/bin/rm', 'victim.txt'],
      ['/bin/../usr/bin/rm', 'victim.txt'],
      ['RM', 'victim.txt'],
    ]) {
      assert.match(await expectDenied(h, command!, args), /no deletes/);
    }
    for (const args of [['push'], ['push', 'origin', 'main'], ['-C', '.', 'push'], ['--no-pager', '-c', 'core.hooksPath=x', 'push', '--force']]) {
      assert.match(await expectDenied(h, 'git', args), /pushes go through CI/);
    }
    assert.equal(h.executedCount(), 0);
  });

  test('Launchers: env, sh -c, xargs, find -exec and the like are refused before they can run rm', async () => {
    const h = setup();
    const attempts: string[][] = [
      ['env', 'rm', 'victim.txt'],
      ['env', '-i', 'PATH=/usr/bin', 'rm', 'victim.txt'],
      ['/usr/bin/env', 'rm', 'victim.txt'],
      ['sh', '-c', 'rm victim.txt'],
      ['bash', '-c', 'rm victim.txt'],
      ['xargs', '-a', 'list.txt', 'rm'],
      ['find', '.', '-name', 'victim.txt', '-exec', 'rm', '{}', ';'],
      ['find', '.', '-name', 'victim.txt', '-execdir', 'rm', '{}', ';'],
      ['find', '.', '-name', 'victim.txt', '-delete'],
      ['nice', 'rm', 'victim.txt'],
      ['timeout', '5', 'rm', 'victim.txt'],
      ['python3', '-c', 'import os; os.remove("victim.txt")'],
      ['node', '-e', 'require("fs").unlinkSync("victim.txt")'],
    ];
    for (const [command, ...args] of attempts) await expectDenied(h, command!, args);
    assert.equal(h.executedCount(), 0);
  });

  test('A launcher under another name: bare sh, a link to dash on this host, is refused by a deny on dash (the agent resolves what sh starts)', async () => {
    const real = realpathSync('/usr/bin/sh');
    const name = real.slice(real.lastIndexOf('/') + 1);
    assert.notEqual(name, 'sh', 'this host links sh to a shell of another name');
    const h = setup({ run_command: { default: 'allow', rules: [{ effect: 'deny', match: { argv: [name, '*'] }, note: `${name} runs anything` }] } });
    assert.match(await expectDenied(h, 'sh', ['-c', 'rm victim.txt']), new RegExp(`${name} runs anything`));
  });

  test('A planted ./git does not match the allow rule for git: refused by the default, and it never runs; the system git does', async () => {
    const h = setup({ run_command: { default: 'deny', rules: [{ effect: 'allow', match: { argv: ['git', 'status', '*'] } }] } });
    const planted = join(h.workspace, 'git');
    writeFileSync(planted, '#!/bin/sh\nrm victim.txt\n');
    chmodSync(planted, 0o755);
    for (const command of ['./git', planted, 'sub/../git']) {
      assert.match(await expectDenied(h, command, ['status']), /run_command default: deny/);
    }
    await expectRan(h, 'git', ['status']);
    assert.ok(existsSync(victim(h)));
  });

  test('An absolute allow rule matches the bare command this host resolves to it, and nothing else', async () => {
    const git = realpathSync('/usr/bin/git');
    const h = setup({ run_command: { default: 'deny', rules: [{ effect: 'allow', match: { argv: [git, 'status'] } }] } });
    await expectRan(h, 'git', ['status']);
    await expectDenied(h, 'git', ['status', '--short']);
    await expectDenied(h, 'ls', []);
  });
});
