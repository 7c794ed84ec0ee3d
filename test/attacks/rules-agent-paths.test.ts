/**
 * Issue 16, agent side: a path rule holds for the file a call really reaches, not only for the name it gives. The
 * agent resolves each file call's target through the workspace's symlinks (agent/rules/host-facts.ts) and the
 * strictest verdict of the lexical and the real path decides. The real IntentRunner, real stores, a real
 * workspace with real links.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { approvalRequest, dispatch } from '../agent/support/rules-runner';
import { policy, RunnerHarness } from './support/runner-harness';

let harness: RunnerHarness | undefined;
afterEach(() => {
  harness?.cleanup();
  harness = undefined;
});

const SECRET = 'TOKEN=do-not-leak\n';

function setup(rules: PolicyRules): RunnerHarness {
  const h = new RunnerHarness(policy({ capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: [], rules }));
  harness = h;
  const at = (p: string) => join(h.workspace, p);
  writeFileSync(at('.env'), SECRET);
  mkdirSync(at('src'));
  mkdirSync(at('secrets'));
  mkdirSync(at('.github'));
  writeFileSync(at('secrets/key.txt'), SECRET);
  writeFileSync(at('src/main.ts'), 'export {};\n');
  symlinkSync('.env', at('cfg'));
  symlinkSync('../.env', at('src/env.ts'));
  symlinkSync('secrets', at('docs'));
  symlinkSync('.github', at('gh'));
  return h;
}

const NO_SECRETS: PolicyRules = {
  read_file: { default: 'allow', rules: [{ effect: 'deny', match: { path: '**/.env*' } }, { effect: 'deny', match: { path: 'secrets/**' } }] },
  list_files: { default: 'allow', rules: [{ effect: 'deny', match: { path: 'secrets/**' } }] },
};

describe('path rules through symlinks', () => {
  test('Symlink to a denied file: read_file cfg (cfg -> .env) under a deny on **/.env* is refused rule-denied, and nothing is read', async () => {
    const h = setup(NO_SECRETS);
    const body = h.intent({ capability: 'read_file', params: { path: 'cfg' } });
    const r = await h.expectRefused(h.seal(body), body.id, 'rule-denied');
    assert.match(r.message, /\.env/);
    assert.doesNotMatch(r.message, /do-not-leak/);
    // Control: the lexical path is denied just the same, and a file no rule names is read.
    const direct = h.intent({ capability: 'read_file', params: { path: '.env' } });
    await h.expectRefused(h.seal(direct), direct.id, 'rule-denied');
    const allowed = h.intent({ capability: 'read_file', params: { path: 'src/main.ts' } });
    assert.deepEqual((await h.expectSucceeded(h.seal(allowed), allowed.id)).output?.content, 'export {};\n');
  });

  test('A linked directory: reading docs/key.txt, or listing docs, where docs -> secrets is refused under a deny on secrets/**', async () => {
    const h = setup(NO_SECRETS);
    const read = h.intent({ capability: 'read_file', params: { path: 'docs/key.txt' } });
    await h.expectRefused(h.seal(read), read.id, 'rule-denied');
    const list = h.intent({ capability: 'list_files', params: { path: 'docs/' } });
    await h.expectRefused(h.seal(list), list.id, 'rule-denied');
  });

  test('An allow rule does not stretch through a link: src/env.ts -> ../.env under allow src/** and a default deny is refused', async () => {
    const h = setup({ read_file: { default: 'deny', rules: [{ effect: 'allow', match: { path: 'src/**' } }] } });
    const body = h.intent({ capability: 'read_file', params: { path: 'src/env.ts' } });
    await h.expectRefused(h.seal(body), body.id, 'rule-denied');
    const allowed = h.intent({ capability: 'read_file', params: { path: 'src/main.ts' } });
    await h.expectSucceeded(h.seal(allowed), allowed.id);
  });

  test('A write through a linked directory: gh/ci.yml (gh -> .github) is asked about under an ask on .github/**, not written at once', async () => {
    const h = setup({ write_file: { default: 'allow', rules: [{ effect: 'ask', match: { path: '.github/**' }, note: 'CI config' }] } });
    const body = h.intent({ capability: 'write_file', params: { path: 'gh/ci.yml', content: 'on: push\n', mode: 'create' } });
    const result = dispatch(h, body);
    const request = await approvalRequest(h, body.id);
    assert.match(request.rule ?? '', /\.github/);
    assert.equal(existsSync(join(h.workspace, '.github/ci.yml')), false, 'written before anyone approved');
    h.runner.onApprovalDecision(h.decision(request, 'reject'), h.session);
    assert.equal((await result)[0]?.reason, 'approval-rejected');
    assert.equal(existsSync(join(h.workspace, '.github/ci.yml')), false);
  });
});
