/**
 * Issue 16, agent side: run_command rules against the ways a denied command is usually smuggled past a rule —
 * another argument order, a launcher that runs it (env, sh -c, xargs, find -exec, nice, timeout), a binary
 * planted in the workspace under an allowed name. The real IntentRunner runs real commands in a temp workspace;
 * every attack aims at deleting victim.txt, so "it did not run" is a file still there, not only a reason.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { PolicyRules } from '../../core/wire/policy-rules';
import { ROOT } from '../support/processes';
import { approvalRequest, dispatch } from '../agent/support/rules-runner';
import { policy, RunnerHarness } from './support/runner-harness';

let harness: RunnerHarness | undefined;
afterEach(() => {
  harness?.cleanup();
  harness = undefined;
});

/** The README's rule set for a build machine, as shipped. */
const BUILD_MACHINE = PolicyRules.parse(JSON.parse(readFileSync(join(ROOT, 'examples', 'rules', 'build-machine.json'), 'utf8')));

function setup(rules: PolicyRules = BUILD_MACHINE): RunnerHarness {
  const h = new RunnerHarness(policy({ capabilities: ['run_command', 'read_file', 'list_files', 'write_file'], approvalRequired: [], rules }));
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

/** The call waits for a reviewer instead of running: nothing ran meanwhile; the reviewer then rejects it. Returns the rule that asked. */
async function expectAsked(h: RunnerHarness, command: string, args: string[]): Promise<string | undefined> {
  const body = h.intent({ capability: 'run_command', params: { command, args, cwd: '.', timeoutMs: 10_000 } });
  const result = dispatch(h, body);
  const request = await approvalRequest(h, body.id);
  assert.ok(existsSync(victim(h)), `${command} ${args.join(' ')} ran before a reviewer decided`);
  h.runner.onApprovalDecision(h.decision(request, 'reject'), h.session);
  assert.equal((await result)[0]?.reason, 'approval-rejected');
  assert.ok(existsSync(victim(h)));
  return request.rule;
}

async function expectRan(h: RunnerHarness, command: string, args: string[]): Promise<void> {
  const body = h.intent({ capability: 'run_command', params: { command, args, cwd: '.', timeoutMs: 10_000 } });
  await h.expectSucceeded(h.seal(body), body.id);
}

describe('run_command rules on the agent', () => {
  test('Argument order under the build-machine rules: rm -rf is refused wherever -rf stands; every other spelling of rm waits for a reviewer, it never runs at once', async () => {
    const h = setup();
    for (const [command, ...args] of [
      ['rm', '-rf', 'victim.txt'],
      ['rm', 'victim.txt', '-rf'],
      ['rm', '-fr', 'victim.txt'],
      ['/usr/bin/rm', '-rf', 'victim.txt'],
      ['/bin/../usr/bin/rm', 'victim.txt', '-rf'],
      ['RM', '-rf', 'victim.txt'],
    ]) {
      await expectDenied(h, command!, args);
    }
    for (const args of [['-r', '-f', 'victim.txt'], ['-Rf', 'victim.txt'], ['--recursive', '--force', 'victim.txt'], ['victim.txt']]) {
      await expectAsked(h, 'rm', args);
    }
    assert.equal(h.executedCount(), 0);
  });

  test('Launchers under the build-machine rules: env, sh -c, xargs, find -exec, nice, timeout, inline interpreters are refused before they can run rm', async () => {
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
      ['setsid', 'rm', 'victim.txt'],
      ['python3', '-c', 'import os; os.remove("victim.txt")'],
      ['node', '-e', 'require("fs").unlinkSync("victim.txt")'],
      ['git', '-c', 'alias.x=!rm victim.txt', 'x'],
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

  test('A planted ./git does not match the allow rule for git status: it waits for a reviewer (the default ask) and never runs at once; the system git runs', async () => {
    const h = setup();
    const planted = join(h.workspace, 'git');
    writeFileSync(planted, '#!/bin/sh\nrm victim.txt\n');
    chmodSync(planted, 0o755);
    for (const command of ['./git', planted, 'sub/../git']) {
      assert.equal(await expectAsked(h, command, ['status']), 'run_command default: ask');
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
