// Issue 16 in a real workbench (../shared/design/testing.md, layer 3): the packaged .vsix in code-server 4.100.3,
// driven by Chromium, with the extension's own local broker and a real agent process. An admin opens the rule
// editor from the agent's context menu, gets completion-grade schema errors from jsonValidation, saves a rule set
// with a failing example and sees the diagnostic on that example (the typed text kept), fixes it and sees the
// policy applied in the Agents view and the broker; runs Test Policy from the palette and the context menu and
// reads the verdicts; and reviews a write a two-person rule holds, where the panel shows "1 of 2 approvals" and
// who approved, and the admin approves it and allows that exact write from now on. Screenshots of each step: test-output/ui-rules/. Fails, not skips, without code-server/Chromium.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BrokerClient } from '../../broker/cli/broker-client';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { sealDecision } from '../../extension/approval/decision';
import { generateUserIdentity } from '../../extension/identity/user-key';
import { brokerCli } from '../support/code-server';
import { ROOT, waitFor } from '../support/processes';
import { UiSession } from './support/session';
import { STEP_MS, textOf, waitText } from './support/workbench';

const OUT = join(ROOT, 'test-output', 'ui-rules');
const USER_NAME = 'rules-admin';
const AGENT_NAME = 'rules-agent';

/** The rule set the admin types, one line (the editor's auto-indent then has nothing to add). */
const rulesWith = (gitStatusExamples: string): string =>
  '{ "run_command": { "default": "deny", "rules": [ ' +
  `{ "effect": "allow", "match": { "argv": ["git", "status"] }, "examples": ${gitStatusExamples} }, ` +
  '{ "effect": "ask", "match": { "argv": ["git", "push", "*"] }, "reviewers": 2, "note": "two people for a push" } ] }, ' +
  '"write_file": { "default": "allow", "rules": [ { "effect": "ask", "match": { "path": "release/**" }, "reviewers": 2 } ] } }';
const FAILING = rulesWith('{ "matches": [["git", "status"], ["git", "push"]] }');
const FIXED = rulesWith('{ "matches": [["git", "status"]], "doesNotMatch": [["git", "push"]] }');

test('rules in a real workbench: the rule editor, Test Policy and a two-person approval, through the UI', { timeout: 240_000 }, async () => {
  const ui = await UiSession.start({
    name: 'ui-rules',
    shots: { dir: OUT, prefix: '', numbered: true },
    logs: join(OUT, 'logs'),
    userName: USER_NAME,
    viewport: { width: 1440, height: 900 },
    settings: {
      // Typed text goes in as typed: no closing brackets or quotes added, no suggestion accepted by Enter.
      'editor.autoClosingBrackets': 'never',
      'editor.autoClosingQuotes': 'never',
      'editor.autoSurround': 'never',
      'editor.autoIndent': 'none',
      'editor.formatOnType': false,
      'editor.quickSuggestions': { other: false, comments: false, strings: false },
      'editor.suggestOnTriggerCharacters': false,
      'editor.acceptSuggestionOnEnter': 'off',
    },
  });
  const { page, wb, workspace, userDataDir } = ui;
  mkdirSync(join(workspace, 'release'));
  try {
    await ui.step('broker-connected', async () => {
      await ui.load();
      await ui.openVaultysClaw();
    });
    const { broker, brokerDid } = await ui.broker();

    // Set-up outside the steps under test: a real agent, approved with four tools and no rules (covered by workbench.e2e).
    const agent = await ui.step('agent-online', () =>
      ui.approvedAgent(AGENT_NAME, { capabilities: ['read_file', 'list_files', 'write_file', 'run_command'], approvalRequired: ['run_command'] }),
    );

    const editorOf = (tabLabel: RegExp | string) => {
      const tab = page.locator('.tab', { hasText: tabLabel });
      return { tab, lines: page.locator('.editor-group-container', { has: tab }).locator('.editor-instance .monaco-editor .view-lines') };
    };
    const rulesTab = `${AGENT_NAME}--`;
    const replaceText = async (text: string) => {
      await editorOf(rulesTab).lines.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.insertText(text);
    };
    const problems = page.locator('.markers-panel');

    await ui.step('rule-editor-opened', async () => {
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Edit Policy Rules…');
      const { tab, lines } = editorOf(rulesTab);
      await tab.waitFor({ state: 'visible', timeout: STEP_MS });
      assert.match((await tab.textContent()) ?? '', /\.vaultysclaw-rules\.jsonc/);
      // The commented starter: today's meaning (run_command asks, the rest allowed), examples in comments.
      const shown = await waitText('the starter', lines, /Policy rules of rules-agent[\s\S]*"run_command": \{\s*"default": "ask"[\s\S]*"write_file": \{\s*"default": "allow"/);
      assert.match(shown, /\/\/ \{ "effect": "deny", "match": \{ "argv": \["rm", "\*"\] \}/);
    });

    // jsonValidation: the schema generated from the zod PolicyRules reaches the JSON language service, before any save.
    await ui.step('schema-validation', async () => {
      await replaceText('{ "run_command": { "rules": [ { "effect": "maybe", "match": { "argv": ["ls"] } } ] } }');
      await page.keyboard.press('Control+Shift+M');
      await waitText('the schema\'s complaint in Problems', problems, /Value is not accepted\. Valid values: "allow", "ask", "deny"/);
    });

    await ui.step('failing-example-diagnostic', async () => {
      await wb.clearNotifications();
      await replaceText(FAILING);
      await page.keyboard.press('Control+S');
      await wb.notification(/the rules of rules-agent were not applied: run_command rule 1 \(allow \["git","status"\]\): example \["git","push"\] should match but does not/);
      const listed = await waitText('the diagnostic in Problems', problems, /Not applied: run_command rule 1[^\n]*example \["git","push"\] should match but does not/);
      assert.match(listed, /VaultysClaw/);
      // On the failing example itself: the line and column where ["git", "push"] starts.
      assert.match(listed, new RegExp(`\\[Ln 1, Col ${FAILING.indexOf('["git", "push"]') + 1}\\]`));
      // A squiggle in the editor, and the text kept.
      await editorOf(rulesTab).lines.locator('..').locator('.squiggly-error').first().waitFor({ state: 'attached', timeout: STEP_MS });
      assert.equal((await broker.call('agentsGet', { did: agent.did })).policy?.rules, undefined, 'nothing applied');
      const saved = readdirSync(join(userDataDir, 'User', 'globalStorage', 'vaultysclaw.vaultysclaw', 'rules'));
      assert.equal(saved.length, 1);
      assert.equal(readFileSync(join(userDataDir, 'User', 'globalStorage', 'vaultysclaw.vaultysclaw', 'rules', saved[0]!), 'utf8'), FAILING, 'what was typed is saved as typed');
    });

    // Closed and opened again, the editor brings back the unapplied draft, not the agent's rules.
    await ui.step('draft-reopened', async () => {
      await wb.clearNotifications();
      await editorOf(rulesTab).tab.locator('.codicon-close').click();
      await editorOf(rulesTab).tab.waitFor({ state: 'detached', timeout: STEP_MS });
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Edit Policy Rules…');
      await wb.notification(/this is your draft of rules-agent's rules, which differs from its current policy v1/);
      await waitText('the draft as typed', editorOf(rulesTab).lines, /\["git", "status"\], \["git", "push"\]\]/);
      assert.doesNotMatch(await textOf(editorOf(rulesTab).lines), /Policy rules of/, 'not the starter');
    });

    await ui.step('rules-applied', async () => {
      await wb.clearNotifications();
      await replaceText(FIXED);
      await page.keyboard.press('Control+S');
      await wb.notification(/rules-agent now runs under policy v2 with 3 rules/);
      const view = await broker.call('agentsGet', { did: agent.did });
      assert.deepEqual(view.policy?.rules, JSON.parse(FIXED) as PolicyRules);
      assert.deepEqual(view.policy?.approvalRequired, ['run_command'], 'the rest of the policy kept');
      await waitFor('the diagnostics cleared', async () => !/Not applied/.test(await textOf(problems)), STEP_MS, 200);
      await wb.clickRow('Agents', AGENT_NAME);
      await waitText('the rules under the agent', wb.pane('Agents'), /Rules\s*run_command 2 rules, default deny · write_file 1 rule, default allow/);
    });

    await ui.step('test-policy-palette', async () => {
      await wb.clearNotifications();
      await wb.commandPicker('VaultysClaw: Test Policy', 'Test the policy of');
      await wb.choose(AGENT_NAME);
      await wb.call(`Test the policy of ${AGENT_NAME}`, AGENT_NAME, 'run_command', ['git', 'push origin main', null, null]);
      await wb.notification(/Needs 2 approvals: run_command git push origin main on rules-agent would wait for 2 distinct reviewers \(run_command rule 2: ask \["git","push","\*"\] \(2 reviewers\) \(two people for a push\)\)/);
      assert.equal((await broker.call('intentsList', { agent: agent.did, limit: 10 })).items.length, 0, 'a dry run sends nothing');
    });

    await ui.step('test-policy-refused-details', async () => {
      await wb.clearNotifications();
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Test Policy');
      await wb.call(`Test the policy of ${AGENT_NAME}`, AGENT_NAME, 'run_command', ['rm', '-rf build', null, null]);
      await wb.notification(/Refused \(rule-denied\) by [^:]+: run_command rm -rf build on rules-agent/);
      await page.locator('.notifications-toasts .monaco-button', { hasText: 'Show Details' }).first().click();
      const { lines } = editorOf(/test-policy-run_command/);
      await waitText('the verdict in full', lines, /Verdict: +refused \(rule-denied\)\s*Decided by: +rules\s*Why: +refused by run_command default: deny/);
    });

    // A write the two-person rule holds: alice (an operator on the team WebSocket) asks, bob (a reviewer) approves
    // first with his own key, and the panel shows the admin "1 of 2 approvals" and who approved.
    const alice = await ui.teammate('alice', 'operator', { agent: agent.did, capabilities: 'write_file' });
    const bobKey = generateUserIdentity();
    const bob = await BrokerClient.connectRemote(`ws://127.0.0.1:${ui.hubPort}`, brokerDid, bobKey, {
      name: 'bob',
      invitation: brokerCli('invite', '--data-dir', ui.dataDir, '--role', 'reviewer', '--token-only').trim(),
    });
    ui.defer(() => bob.close());
    const content = 'released after two reviews\n';
    const dispatch = ui.dispatchAs(alice, agent.did, 'write_file', { path: 'release/notes.txt', content, mode: 'create' });

    const requestId = await ui.step('first-approval', async () => {
      const pending = await ui.pendingApproval(dispatch, 'the paused write');
      assert.equal(pending.reviewersRequired, 2, 'the rule asks for two reviewers');
      const full = await bob.call('approvalsGet', { requestId: pending.requestId });
      const sealed = sealDecision(bobKey, full, 'approve', 'first of two');
      const after = await bob.call('approvalsDecide', { payload: sealed.payload, signature: sealed.signature });
      assert.equal(after.state, 'pending', 'one approval of two decides nothing');
      assert.equal(after.approvals.length, 1);
      return pending.requestId;
    });

    await ui.step('panel-quorum', async () => {
      await wb.clickRow('Approvals', 'write_file release/notes.txt');
      const panel = wb.webview;
      await waitText('the quorum', panel.locator('#quorum'), /^1 of 2 approvals — approved by bob \([0-9A-F ]{19}\)$/);
      const body = await waitText('the panel', panel.locator('#app'), /You review as rules-admin \(owner\)/);
      assert.match(body, /Asked by the rule\s*write_file rule 1: ask release\/\*\* \(2 reviewers\)/);
      // The admin may also allow exactly this call from now on.
      await waitText('the admin\'s option', panel.locator('#approve-allow'), /Approve and allow release\/notes\.txt on this agent from now on/);
      assert.ok(!existsSync(join(workspace, 'release', 'notes.txt')), 'nothing written before the second approval');
    });

    // The admin's second approval also allows exactly this write from now on (approvals/decide, then policy/allowCall).
    await ui.step('second-approval-and-allow', async () => {
      const panel = wb.webview;
      await panel.locator('#approve-allow').click();
      await waitText('the decision in the panel', panel.locator('#app'), /This request was approved by/);
      await waitText('the rule added', panel.locator('#app'), /now allows it from now on: write_file allow release\/notes\.txt, first of its rules\./);
      const policy = (await broker.call('agentsGet', { did: agent.did })).policy!;
      assert.deepEqual(policy.rules?.write_file?.rules[0], { effect: 'allow', match: { path: 'release/notes.txt' } }, 'the exact path, first in its list');
      assert.equal(policy.rules?.write_file?.rules.length, 2);
      await waitText('the Agents view', wb.pane('Agents'), /Rules\s*run_command 2 rules, default deny · write_file 2 rules, default allow/);
      await waitText('the quorum complete', panel.locator('#quorum'), /^2 of 2 approvals — approved by bob \([0-9A-F ]{19}\), rules-admin/);
      const decided = await broker.call('approvalsGet', { requestId });
      assert.equal(decided.state, 'approved');
      assert.equal(decided.approvals.length, 2);
      const code = await dispatch.exitWithin(STEP_MS);
      assert.equal(code, 0, `alice's dispatch ended with ${code}:\n${dispatch.output.join('')}`);
      assert.equal(readFileSync(join(workspace, 'release', 'notes.txt'), 'utf8'), content);
      assert.deepEqual(ui.cspViolations(), []);
    });
  } finally {
    await ui.close();
  }
});
