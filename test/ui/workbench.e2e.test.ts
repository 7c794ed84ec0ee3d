// The extension in a real VS Code workbench, driven by a real browser (../shared/design/testing.md, layer 3):
// the packaged .vsix installed into code-server 4.100.3 (VS Code 1.100.3), the workbench opened in Debian's
// Chromium through playwright-core, the extension's own local broker, a real agent process, and a second user
// on the team WebSocket (the CLI). Everything a person does here goes through the UI — the activity bar, tree
// rows, context menus, the command palette and its pickers, the approval panel's webview — and every step is
// checked on screen and against the broker's state behind it. Screenshots of each step: test-output/ui/.
//
// Needs scripts/code-server/install.sh (code-server in .code-server/, chromium from apt); it fails, not skips,
// without them. VAULTYSCLAW_CODE_SERVER / VAULTYSCLAW_CHROMIUM override the two paths; VAULTYSCLAW_UI_KEEP=1
// keeps the run folder (data directories, user data, logs) instead of removing it.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { brokerCli } from '../support/code-server';
import { type AgentProcess, waitFor } from '../support/processes';
import { UI_OUT, UiSession } from './support/session';
import { STEP_MS, textOf, waitText } from './support/workbench';

const USER_NAME = 'workbench-owner';
const AGENT_NAME = 'ui-agent';

test('the extension in a real workbench: registration, dispatch and a reviewed write, through the UI', { timeout: 180_000 }, async () => {
  const ui = await UiSession.start({
    name: 'ui',
    shots: { prefix: '', numbered: true },
    logs: join(UI_OUT, 'logs'),
    userName: USER_NAME,
    viewport: { width: 1440, height: 900 },
    files: { 'hello.txt': 'hello from the agent workspace\n' },
  });
  const { page, wb, workspace, dataDir } = ui;
  try {
    await ui.step('workbench', () => ui.load());

    // The extension activates on its views, starts its broker with vscode-languageclient and proves the user's key.
    const owner = await ui.step('broker-connected', async () => {
      await ui.openVaultysClaw();
      await waitText('the Agents view to offer enrollment', wb.pane('Agents'), /No agents yet/);
      assert.match(await textOf(wb.statusItem), /no agent online/);
      const users = JSON.parse(brokerCli('users', '--data-dir', dataDir)) as { did: string; name: string; role: string }[];
      const me = users.find((u) => u.name === USER_NAME);
      assert.equal(me?.role, 'owner', 'the extension user is the broker\'s first user, hence its owner');
      return me!;
    });
    const { broker } = await ui.broker();

    // A real agent process, pinned to that broker's DID, connecting to the hub port the settings chose.
    let agent!: AgentProcess;
    await ui.step('registration-pending', async () => {
      agent = await ui.startAgent(AGENT_NAME, 'read_file,list_files,write_file');
      await waitText('the pending registration in the Agents view', wb.pane('Agents'), /Pending registration[\s\S]*ui-agent[\s\S]*asks read_file, list_files, write_file/);
      assert.equal((await broker.call('agentsGet', { did: agent.did })).status, 'pending');
      await waitFor('the status bar to count the pending registration', async () => /1 agent registration waiting for an admin/.test(await wb.statusLabel()));
    });

    await ui.step('approve-pickers', async () => {
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Approve Registration');
      // "Approve as requested" comes first (test/ui/readme-walk.e2e.test.ts takes it); this walk chooses the policy step by step.
      await wb.picker(`Approve ${AGENT_NAME}`);
      await wb.choose('Choose the policy');
      await wb.picker(`Approve ${AGENT_NAME} (1/4)`);
      // What it asked for is preselected.
      for (const c of ['read_file', 'list_files', 'write_file']) {
        assert.equal(await wb.quickInput.locator('.monaco-list-row', { hasText: c }).getAttribute('aria-checked'), 'true', `${c} is preselected`);
      }
    });
    await ui.step('agent-approved', async () => {
      await wb.answer(null);
      await wb.picker(`Approve ${AGENT_NAME} (2/4)`);
      await wb.answer(null); // nothing needs a reviewer yet
      // Requests per hour and days: no LLM tokens (llm_task is not granted), no domains or limits (no command tool).
      for (const n of [3, 4]) {
        await wb.picker(`Approve ${AGENT_NAME} (${n}/4)`);
        await wb.answer(null); // the defaults
      }
      await wb.notification(/approved ui-agent with read_file, list_files, write_file/);
      await waitText('the agent under Online', wb.pane('Agents'), /Online[\s\S]*ui-agent/);
      const view = await broker.call('agentsGet', { did: agent.did });
      assert.equal(view.status, 'approved');
      assert.deepEqual([...view.policy!.capabilities].sort(), ['list_files', 'read_file', 'write_file']);
      assert.deepEqual(view.policy!.approvalRequired, []);
      await waitFor('the agent to be online with its policy', async () => (await broker.call('agentsGet', { did: agent.did })).online);
      await waitFor('the status bar to count it online', async () => /1 agent online\. No tool call waiting for approval/.test(await wb.statusLabel()));
    });

    await ui.step('dispatch-result', async () => {
      await wb.clearNotifications();
      await wb.dispatch(AGENT_NAME, 'read_file', ['hello.txt']);
      await wb.notification(/read_file on ui-agent succeeded/);
      // The progress notification (with its Cancel) ends with the intent.
      await waitFor('the progress notification to close', async () => !/signing and sending|waiting for the agent/.test(await textOf(page.locator('.notifications-toasts'))), STEP_MS, 200);
      // The file itself, as a read-only document named after it (the result view, issue 17), not a JSON tab.
      const resultTab = page.locator('.tab.active', { hasText: 'hello.txt' });
      await resultTab.waitFor({ state: 'visible', timeout: STEP_MS });
      assert.doesNotMatch((await resultTab.getAttribute('class')) ?? '', /\bdirty\b/);
      const editor = page.locator('.editor-group-container', { has: resultTab }).locator('.editor-instance .monaco-editor .view-lines');
      const shown = await waitText('the result in an editor', editor, /hello from the agent workspace/);
      assert.doesNotMatch(shown, /"state"/);
      await waitText('the intent in the Activity view', wb.pane('Activity'), /read_file hello\.txt[\s\S]*succeeded · ui-agent/);
      const intents = (await broker.call('intentsList', { agent: agent.did, limit: 10 })).items;
      const read = intents.find((i) => i.capability === 'read_file');
      assert.equal(read?.state, 'succeeded');
      assert.equal(read?.user, owner.did, 'signed for the workbench user');
      assert.equal((await broker.call('intentsGet', { id: read!.id })).output?.content, 'hello from the agent workspace\n');
    });

    // Opening the intent in the Activity view: the signed intent, checked in the extension against the pinned broker id.
    await ui.step('signed-intent', async () => {
      await wb.clickRow('Activity', 'read_file hello.txt');
      await waitText('the result view', wb.webview.locator('h1'), /^read_file hello\.txt$/);
      await wb.webview.locator('vscode-button[aria-label^="Verify"]').click();
      await waitText('the signed intent, verified', wb.webview.locator('#app'), /Signed intent: holds\. The signed intent holds: signed by did:vaultys:/);
    });

    // Edit Agent Policy from the palette: write_file now pauses for a reviewer.
    await ui.step('policy-picker', async () => {
      await wb.clearNotifications();
      // Edit Policy opens at the field picked, not at step 1 of every question.
      await wb.tickNeedsReviewer(AGENT_NAME, 'write_file');
    });
    await ui.step('policy-needs-approval', async () => {
      await wb.applyPolicyEdit(AGENT_NAME);
      await wb.notification(/ui-agent now runs under policy v2/);
      await waitFor('the broker to hold the new policy', async () => (await broker.call('agentsGet', { did: agent.did })).policy?.approvalRequired.includes('write_file'));
      // The agent row's details: expand it and read what needs approval.
      await wb.clickRow('Agents', AGENT_NAME);
      await waitText('the policy details under the agent', wb.pane('Agents'), /Needs approval\s*write_file/);
    });

    // A second person: invited as an operator, joined over the team WebSocket with a key of their own (the CLI),
    // granted write_file on the agent; their write pauses on the agent for a reviewer.
    const alice = await ui.teammate('alice', 'operator', { agent: agent.did, capabilities: 'write_file' });
    const content = 'written by the agent after a review in the workbench\n';
    const dispatch = ui.dispatchAs(alice, agent.did, 'write_file', { path: 'reviewed.txt', content, mode: 'create' });

    const approval = await ui.step('approval-waiting', async () => {
      await ui.pendingApproval(dispatch, 'the broker to hold the paused write');
      await waitText('the paused write in the Approvals view', wb.pane('Approvals'), /write_file reviewed\.txt[\s\S]*alice \([0-9A-F ]{19}\) · [^·]+ · on ui-agent \([0-9A-F ]{19}\)/);
      await waitFor('the status bar to count the approval', async () => /1 tool call waiting for approval: 1 you may decide/.test(await wb.statusLabel()));
      await waitText('the paused write in the Activity view, and who must act', wb.pane('Activity'), /write_file reviewed\.txt\s*waiting for approval by [^·]*workbench-owner[^·]* · ui-agent/);
      const pending = (await broker.call('approvalsList', { state: 'pending' })).items;
      assert.equal(pending.length, 1);
      assert.equal(pending[0]!.user, alice.did, 'requested by the second user');
      assert.equal(pending[0]!.agent, agent.did);
      return pending[0]!;
    });

    await ui.step('approval-panel', async () => {
      await wb.clickRow('Approvals', 'write_file reviewed.txt');
      const panel = wb.webview;
      await waitText('the approval panel', panel.locator('h1'), /write_file reviewed\.txt/);
      const body = await waitText('the request in full', panel.locator('#app'), /You review as workbench-owner \(owner\)/);
      assert.match(body, /asked by alice/);
      // Identifiers sit folded below the decision (issue 17): present, not in the way.
      assert.match((await panel.locator('#details').textContent()) ?? '', new RegExp(approval.requestId));
      assert.match(body, /written by the agent after a review in the workbench/);
      assert.match(body, /PENDING/i);
      assert.ok(existsSync(join(workspace, 'reviewed.txt')) === false, 'nothing is written before the decision');
      // The request's age counts on in the panel (a display clock in the webview; nothing polls the broker).
      const age = panel.locator('[data-relative-to]').first();
      const first = await textOf(age);
      assert.match(first, /^\d+ s ago$/);
      await waitFor('the request age to move on', async () => (await textOf(age)) !== first, 5000, 250);
    });

    // Hidden behind another editor (its webview torn down) and shown again, the panel keeps the typed reason.
    await ui.step('panel-restored', async () => {
      await wb.webview.locator('#reason textarea').fill('typed before hiding the panel');
      await wb.clickRow('Activity', 'read_file hello.txt');
      // The read's result view (issue 17) takes the group, hiding the approval panel.
      await page.locator('.tab.active', { hasText: 'read_file hello.txt' }).waitFor({ state: 'visible', timeout: STEP_MS });
      await page.locator('.tab', { hasText: 'Approve write_file reviewed.txt?' }).first().click();
      await waitText('the panel shown again', wb.webview.locator('h1'), /write_file reviewed\.txt/);
      await waitFor('the reason restored', async () => (await wb.webview.locator('#reason textarea').inputValue().catch(() => '')) === 'typed before hiding the panel', STEP_MS, 200);
      await waitText('the live state again', wb.webview.locator('#app'), /You review as workbench-owner \(owner\)/);
    });

    await ui.step('diff', async () => {
      await wb.webview.locator('#open-diff').click();
      await page.locator('.monaco-diff-editor').first().waitFor({ state: 'visible', timeout: STEP_MS });
      await page.locator('.tab', { hasText: 'reviewed.txt: new file ↔ proposed' }).waitFor({ state: 'visible', timeout: STEP_MS });
      await waitText('the proposed content in the diff', page.locator('.monaco-diff-editor').first(), /written by the agent after a review/);
    });

    await ui.step('approved', async () => {
      // Back to the panel's tab, then a reason and Approve.
      await page.locator('.tab', { hasText: 'Approve write_file reviewed.txt?' }).first().click();
      const panel = wb.webview;
      await panel.locator('#reason textarea').fill('reviewed in the workbench');
      await panel.locator('#approve').click();
      await waitText('the decision in the panel', panel.locator('#app'), /This request was approved by workbench-owner/);
      const decided = await broker.call('approvalsGet', { requestId: approval.requestId });
      assert.equal(decided.state, 'approved');
      assert.equal(decided.decidedBy, owner.did, 'signed with the workbench user\'s key');
      assert.equal(decided.reason, 'reviewed in the workbench');
      await waitText('the Approvals view emptied', wb.pane('Approvals'), /No tool calls are waiting for a reviewer/);
      // The panel's strict CSP (nonce'd script, no inline style but the nonce'd block) blocked nothing of ours.
      assert.deepEqual(ui.cspViolations(), []);
      await panel.locator('h1').scrollIntoViewIfNeeded();
    });

    await ui.step('agent-proceeded', async () => {
      const code = await dispatch.exitWithin(STEP_MS);
      assert.equal(code, 0, `alice's dispatch ended with ${code}:\n${dispatch.output.join('')}`);
      const result = dispatch.result<{ state: string; id: string; user: string }>();
      assert.equal(result.state, 'succeeded');
      assert.equal(result.user, alice.did);
      assert.equal(readFileSync(join(workspace, 'reviewed.txt'), 'utf8'), content, 'the agent wrote the file in its workspace');
      assert.equal((await broker.call('intentsGet', { id: result.id })).state, 'succeeded');
      await waitText('the write in the Activity view', wb.pane('Activity'), /write_file reviewed\.txt[\s\S]*succeeded · ui-agent/);
      await waitFor('the status bar to count no approvals', async () => /No tool call waiting for approval/.test(await wb.statusLabel()));
      // The workbench's folder is the agent's workspace: the written file opens from Quick Open.
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+P');
      await wb.quickInputBox.waitFor({ state: 'visible', timeout: STEP_MS });
      // The file's row: Quick Open also lists, from its history, the approval panel and the diff, both named after reviewed.txt.
      await wb.quickInputBox.fill('reviewed.txt');
      await wb.quickInput.locator('.monaco-list-row[aria-label^="reviewed.txt"]').filter({ hasNotText: '↔' }).first().click();
      const fileTab = page.locator('.tab.active[aria-label^="reviewed.txt, "]');
      await fileTab.waitFor({ state: 'visible', timeout: STEP_MS });
      const fileEditor = page.locator('.editor-group-container', { has: fileTab }).locator('.editor-instance .monaco-editor .view-lines');
      await waitText('the written file in an editor', fileEditor, /written by the agent after a review in the workbench/);
    });
  } finally {
    await ui.close();
  }
});
