// The README's walk-through in one real workbench, as a new user does it (issue 17, "Done when"): the demo's set-up
// (`npm run demo`: the .vsix in code-server, the extension's own broker, demo-agent asking for the four tools and
// expected by the workbench), then, through the UI only: the shield, the pending registration approved as requested,
// F1 → Dispatch Intent → read_file hello.txt and its result; Edit Agent Policy so writes need a reviewer. Alone: a
// long command cancelled from its progress notification and from its Activity row (its processes gone, the intent
// ended cancelled with the agent's signed answer), then a write nobody else could review, named in a modal before
// dispatch, its notification's Open Approval, and Cancel Intent withdrawing it. With a second user (bob, a reviewer
// invited as the README's "Two users" does, who decides with the CLI): the same kind of write waits for him, no
// modal, and completes once he approves. Last, the README's last step: demo-agent revoked from its context menu;
// the agent ends (exit 3, "registration ended"), the workbench keeps running and says so, the revoked row is removed
// from the list, and the two commands the demo prints enroll an agent again, approved and answering in the same
// workbench. Screenshots: test-output/ui/walk-NN-<step>.png. Fails, not skips, without code-server/Chromium.
//
// It replaces cancel.e2e and words.e2e (each of their assertions is made here, on the demo's agent), so the UI
// run starts one workbench fewer.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IntentSummary } from '../../core/rpc/views';
import { shortFingerprint } from '../../core/text/untrusted-text';
import { run } from '../support/code-server';
import { processesWith } from '../support/host-processes';
import { ROOT, waitFor } from '../support/processes';
import { UI_OUT, UiSession } from './support/session';
import { STEP_MS, textOf, waitText } from './support/workbench';

const USER_NAME = 'demo-user';
const AGENT_NAME = 'demo-agent';
/** What demo.mjs has the agent ask for, and the file it puts in the workspace. */
const REQUEST = 'read_file,list_files,write_file,run_command';
const HELLO = 'Hello from the agent workspace.\n';

test('the README walk-through in one workbench: enroll, approve, dispatch, a reviewer, cancel and withdraw alone, a second user reviewing, revoke and enroll again', { timeout: 420_000 }, async () => {
  const ui = await UiSession.start({
    name: 'ui-walk',
    shots: { prefix: 'walk-', numbered: true },
    logs: join(UI_OUT, 'walk-logs'),
    userName: USER_NAME,
    // As demo.mjs sets it: the Agents view says "Connecting…" until this agent reaches the broker.
    settings: { 'vaultysclaw.expectedAgents': [AGENT_NAME] },
    files: { 'hello.txt': HELLO },
  });
  const { page, wb, workspace } = ui;
  const markers: string[] = [];
  ui.defer(() => {
    for (const marker of markers) for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
  });
  try {
    const toasts = page.locator('.notifications-toasts');
    const dialog = page.locator('.monaco-dialog-box');

    // "Click the VaultysClaw shield in the activity bar (the extension starts its broker)": the agent is not there
    // yet, and the view must not tell the user to enroll one.
    await ui.step('connecting', async () => {
      await ui.load();
      await ui.openVaultysClaw();
      const shown = await waitText('the Connecting… welcome', wb.pane('Agents'), /Connecting… the agent started with this workbench/);
      assert.doesNotMatch(shown, /No agents yet/);
      assert.match(await textOf(wb.statusItem), /no agent online/);
      // No agent online: no Dispatch button on the Agents view's title, and the Activity view says why.
      assert.equal(await wb.pane('Agents').locator('.actions [aria-label^="Dispatch Intent"]').count(), 0);
      await waitText('why nothing can be dispatched', wb.pane('Activity'), /Dispatching needs an agent online/);
    });
    const { broker, brokerDid } = await ui.broker();

    // "demo-agent appears under Pending registration: right-click it → Approve Registration."
    const agentState = join(ui.dirs.run, 'agent');
    const agent = await ui.startAgent(AGENT_NAME, REQUEST, { stateDir: agentState });
    await ui.step('pending-registration', async () => {
      await waitText('the pending registration', wb.pane('Agents'), /Pending registration[\s\S]*demo-agent[\s\S]*waiting for approval · online · asks read_file, list_files, write_file, run_command/);
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Approve Registration');
      await wb.picker(`Approve ${AGENT_NAME}`);
      await waitText('the one-click choice, first', wb.quickInput.locator('.monaco-list-row').first(), /Approve as requested[\s\S]*read_file, list_files, write_file, run_command · no reviewer needed · 60 requests\/h · 30 days/);
    });
    await ui.step('approved-as-requested', async () => {
      await wb.quickInputBox.press('Enter');
      await wb.notification(/approved demo-agent with read_file, list_files, write_file, run_command/);
      const view = await waitFor('the agent online with its policy', async () => {
        const v = await broker.call('agentsGet', { did: agent.did });
        return v.online && v.policy ? v : undefined;
      });
      assert.deepEqual(view.policy!.capabilities, ['read_file', 'list_files', 'write_file', 'run_command'], 'exactly what it asked for');
      assert.deepEqual(view.policy!.approvalRequired, []);
      // The status bar in words, the agent's row with its state and tools, Online counted in words too.
      await waitFor('the status bar in words', async () => /^\s*1 agent online\s*$/.test(await textOf(wb.statusItem)), STEP_MS, 200);
      assert.match(await wb.statusLabel(), /1 agent online\. No tool call waiting for approval/);
      const row = await waitText('the agent row', wb.row('Agents', AGENT_NAME), /online · read_file, list_files, write_file, run_command · /);
      assert.ok(row.includes(shortFingerprint(agent.did)), row);
      assert.doesNotMatch(await textOf(wb.pane('Agents')), /1 agents/);
      assert.match(await textOf(wb.pane('Agents')), /Online\s*1 agent/);
    });

    await ui.step('copy-did', async () => {
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Copy DID');
      await waitText('the copied DID said in the status bar', page.locator('.statusbar'), new RegExp(`copied ${agent.did}`));
    });

    // "F1 → VaultysClaw: Dispatch Intent → demo-agent → read_file → hello.txt: the signed result opens."
    await ui.step('read-result', async () => {
      await wb.clearNotifications();
      await wb.dispatch(AGENT_NAME, 'read_file', ['hello.txt']);
      await wb.notification(/read_file on demo-agent succeeded/);
      const resultTab = page.locator('.tab.active', { hasText: 'hello.txt' });
      await resultTab.waitFor({ state: 'visible', timeout: STEP_MS });
      const editor = page.locator('.editor-group-container', { has: resultTab }).locator('.editor-instance .monaco-editor .view-lines');
      assert.doesNotMatch(await waitText('the file as a document', editor, /Hello from the agent workspace\./), /"state"/, 'the file, not JSON');
      await waitText('the intent in the Activity view', wb.pane('Activity'), /read_file hello\.txt[\s\S]*succeeded · demo-agent/);
    });

    // "F1 → VaultysClaw: Edit Agent Policy, tick write_file as needing a reviewer."
    await ui.step('policy-needs-reviewer', async () => {
      await wb.clearNotifications();
      await wb.tickNeedsReviewer(AGENT_NAME, 'write_file');
      await wb.applyPolicyEdit(AGENT_NAME);
      await wb.notification(/demo-agent now runs under policy v2/);
      const policy = (await broker.call('agentsGet', { did: agent.did })).policy!;
      assert.deepEqual(policy.approvalRequired, ['write_file']);
      assert.deepEqual(policy.capabilities, ['read_file', 'list_files', 'write_file', 'run_command'], 'the rest of the policy kept');
    });

    // Alone. A long command (`sleep 300.<marker>`, running until killed), cancelled twice.
    const dispatchSleep = async (): Promise<{ marker: string; intent: IntentSummary }> => {
      const marker = String(randomInt(1e8, 1e9));
      markers.push(marker);
      await wb.dispatch(AGENT_NAME, 'run_command', ['sleep', `300.${marker}`, null, '600']);
      await waitFor(`sleep 300.${marker} running on the agent host`, () => processesWith(marker).length > 0, STEP_MS, 200);
      const intent = await waitFor('the intent running at the broker', async () => (await broker.call('intentsList', { agent: agent.did, limit: 10 })).items.find((i) => JSON.stringify(i.params).includes(marker) && i.state === 'running'), STEP_MS, 200);
      return { marker, intent };
    };
    const endsCancelled = async (marker: string, id: string) => {
      await waitFor(`every process of sleep 300.${marker} gone`, () => processesWith(marker).length === 0, STEP_MS, 200);
      const detail = await waitFor("the agent's signed answer kept", async () => {
        const d = await broker.call('intentsGet', { id });
        return d.signedResult ? d : undefined;
      }, STEP_MS, 200);
      assert.deepEqual([detail.state, detail.reason], ['cancelled', 'cancelled']);
    };

    const first = await ui.step('long-command-running', async () => {
      await wb.clearNotifications();
      const sent = await dispatchSleep();
      await waitText('the progress notification with its Cancel', toasts, /(?=[\s\S]*run_command on demo-agent)(?=[\s\S]*\bCancel\b)/);
      return sent;
    });
    await ui.step('cancelled-from-notification', async () => {
      await toasts.locator('.monaco-button', { hasText: /^Cancel$/ }).first().click();
      await endsCancelled(first.marker, first.intent.id);
      await wb.notification(/run_command on demo-agent cancelled/);
      await waitText('the Activity row', wb.pane('Activity'), new RegExp(`run_command sleep 300\\.${first.marker}[\\s\\S]*cancelled`));
    });

    await wb.clearNotifications();
    const second = await ui.step('second-command-running', () => dispatchSleep());
    await ui.step('activity-row-menu', async () => {
      await waitText('the running row', wb.pane('Activity'), new RegExp(`run_command sleep 300\\.${second.marker}[\\s\\S]*running`));
      await wb.clickRow('Activity', `300.${second.marker}`, 'right');
      await wb.menuItem('Cancel Intent');
      await waitText('the confirmation', dialog, /Cancel run_command sleep 300\.\d+\?[\s\S]*a running command is killed/);
    });
    await ui.step('cancelled-from-activity-row', async () => {
      await dialog.locator('.monaco-button', { hasText: 'Cancel Intent' }).click();
      await endsCancelled(second.marker, second.intent.id);
      await waitText('the Activity row', wb.pane('Activity'), new RegExp(`run_command sleep 300\\.${second.marker}[\\s\\S]*cancelled`));
    });

    /** Dispatch Intent → write_file, the content typed in a new untitled editor and handed over by Write to Agent. */
    const writeFromEditor = async (path: string, text: string) => {
      await wb.commandPicker('VaultysClaw: Dispatch Intent', 'Dispatch an intent to');
      await wb.choose(AGENT_NAME);
      await wb.picker(`Dispatch to ${AGENT_NAME}`);
      await wb.choose('write_file');
      await wb.picker(`write_file on ${AGENT_NAME} (1/3)`);
      await wb.answer(path);
      await wb.picker(`write_file on ${AGENT_NAME} (2/3)`);
      await wb.choose('Type it in a new editor');
      const untitled = page.locator('.editor-group-container', { has: page.locator('.tab.active', { hasText: /Untitled-\d+/ }) });
      const contentEditor = untitled.locator('.monaco-editor .view-lines');
      await contentEditor.click();
      await page.keyboard.type(text);
      await waitText('the typed content', contentEditor, new RegExp(text));
      // From the editor's title bar, as the progress notification says.
      await untitled.locator('.editor-actions .action-label[aria-label^="Write to Agent"]').click();
      await wb.picker(`write_file on ${AGENT_NAME} (3/3)`);
      await wb.choose('create');
    };
    const writeAt = (path: string) => waitFor(`the write of ${path} at the broker`, async () => (await broker.call('intentsList', { agent: agent.did, limit: 20 })).items.find((i) => i.capability === 'write_file' && i.params.path === path), STEP_MS, 200);

    // A write only someone else may approve, by a user nobody else can review: said before it is sent.
    await wb.clearNotifications();
    await ui.step('solo-dead-end-modal', async () => {
      await writeFromEditor('solo.txt', 'written only if reviewed');
      const shown = await waitText('the modal before dispatch', dialog, /needs a reviewer other than you; nobody else can review on this broker/);
      assert.match(shown, /"local operator" is the broker host's own key \(operator\.key in the broker's data directory\)/);
      for (const choice of ['Dispatch Anyway', 'How to Invite a Reviewer', 'Cancel']) assert.ok(shown.split('\n').includes(choice), `the modal offers ${choice}`);
      assert.equal((await broker.call('intentsList', { agent: agent.did, limit: 10 })).items.filter((i) => i.capability === 'write_file').length, 0, 'nothing sent before the choice');
    });
    const waiting = await ui.step('waiting-for-reviewer-notification', async () => {
      await dialog.locator('.monaco-button', { hasText: 'Dispatch Anyway' }).click();
      const intent = await writeAt('solo.txt');
      assert.equal((await broker.call('intentsGet', { id: intent.id })).params.content, 'written only if reviewed', "the content editor's text, as typed");
      await waitText('the notification naming the wait', toasts, /(?=[\s\S]*waits for a reviewer: local operator\. "local operator" is the broker host's own key)(?=[\s\S]*Open Approval)/);
      return intent;
    });
    await ui.step('open-approval', async () => {
      await toasts.locator('.monaco-button', { hasText: 'Open Approval' }).first().click();
      await waitText('the approval panel', wb.webview.locator('body'), /write_file/);
    });
    await ui.step('withdrawn', async () => {
      await wb.clickRow('Activity', 'write_file solo.txt', 'right');
      await wb.menuItem('Cancel Intent');
      await waitText('the confirmation', dialog, /Cancel write_file solo\.txt\?[\s\S]*drops the call waiting for a reviewer/);
      await dialog.locator('.monaco-button', { hasText: 'Cancel Intent' }).click();
      await waitFor('the write cancelled', async () => (await broker.call('intentsGet', { id: waiting.id })).state === 'cancelled', STEP_MS, 200);
      await waitFor('its approval no longer pending', async () => (await broker.call('approvalsList', { state: 'pending' })).items.every((a) => a.intentId !== waiting.id), STEP_MS, 200);
      await agent.log.waitFor('intent.rejected', (l) => l.intentId === waiting.id && l.reason === 'cancelled');
      assert.equal(existsSync(join(workspace, 'solo.txt')), false, 'nothing written');
    });

    // With a second user: bob, a reviewer, joins with a key of his own and decides with the CLI (README "Two users").
    const bob = await ui.teammate('bob', 'reviewer');
    const asBob = { ...process.env, VAULTYSCLAW_URL: `ws://127.0.0.1:${ui.hubPort}`, VAULTYSCLAW_BROKER_DID: brokerDid, VAULTYSCLAW_KEY: bob.key };
    const bobCli = (...args: string[]) => run(process.execPath, [join(ROOT, 'dist', 'broker.js'), ...args], { env: asBob, timeoutMs: 45_000 });
    const reviewed = await ui.step('waits-for-bob', async () => {
      await wb.clearNotifications();
      await waitFor('bob among the workbench\'s users', async () => (await broker.call('usersList', {})).items.some((u) => u.did === bob.did), STEP_MS, 200);
      await writeFromEditor('reviewed.txt', 'approved by bob');
      // Someone else can review now: no modal, the write goes out and waits for him.
      const intent = await writeAt('reviewed.txt');
      assert.equal(await dialog.count(), 0, 'no dead-end modal when another reviewer exists');
      await waitText('the notification naming who must act', toasts, /waits for a reviewer: [^\n]*bob/);
      await waitFor('the status bar to count the approval', async () => /1 tool call waiting for approval/.test(await wb.statusLabel()), STEP_MS, 200);
      return intent;
    });
    await ui.step('bob-approved', async () => {
      const request = bobCli('approvals', '--wait', '30', '--ids-only').trim().split('\n')[0]!;
      assert.match(request, /\S/, 'bob sees the paused call');
      bobCli('decide', request, 'approve', '--reason', 'looks fine');
      const decided = await broker.call('approvalsGet', { requestId: request });
      assert.equal(decided.state, 'approved');
      assert.equal(decided.decidedBy, bob.did, 'signed with bob\'s own key');
      await wb.notification(/write_file on demo-agent succeeded/);
      await waitFor('the write succeeded', async () => (await broker.call('intentsGet', { id: reviewed.id })).state === 'succeeded', STEP_MS, 200);
      assert.equal(readFileSync(join(workspace, 'reviewed.txt'), 'utf8'), 'approved by bob');
      await waitText('the write in the Activity view', wb.pane('Activity'), /write_file reviewed\.txt[\s\S]*succeeded · demo-agent/);
      await waitFor('the status bar to count no approvals', async () => /No tool call waiting for approval/.test(await wb.statusLabel()), STEP_MS, 200);
    });

    // The README's last step: revoke demo-agent. The agent ends; the workbench and its broker keep running.
    await ui.step('revoke-confirm', async () => {
      await wb.clearNotifications();
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Revoke Agent');
      await wb.picker(`Revoke ${AGENT_NAME}`);
      await wb.answer('decommissioned');
      await waitText('the confirmation', dialog, /Revoke demo-agent\?[\s\S]*disconnected at once and refused from then on/);
    });
    await ui.step('revoked', async () => {
      await dialog.locator('.monaco-button', { hasText: 'Revoke' }).first().click();
      assert.equal(await agent.exited(STEP_MS), 3, 'the agent ends with "registration ended", the code the demo answers with how to enroll again');
      assert.equal((await broker.call('agentsGet', { did: agent.did })).status, 'revoked');
      await wb.notification(/demo-agent is revoked: [\s\S]*To enroll that machine again, give its agent a new key there/);
      await waitText('the Revoked group', wb.pane('Agents'), /Revoked\s*1 agent/);
      await waitFor('the status bar: nothing online, nothing waiting', async () => /no agent online/.test(await textOf(wb.statusItem)) && /No tool call waiting for approval/.test(await wb.statusLabel()), STEP_MS, 200);
      await wb.clickRow('Agents', 'Revoked');
      await waitText('the revoked row', wb.row('Agents', AGENT_NAME), /revoked: decommissioned/);
    });
    await ui.step('removed', async () => {
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Remove from List');
      await waitText('the confirmation', dialog, /Remove demo-agent \(revoked\) from the list\?[\s\S]*The audit log keeps its whole history/);
      await dialog.locator('.monaco-button', { hasText: 'Remove' }).first().click();
      await waitFor('the row gone', async () => (await wb.row('Agents', AGENT_NAME).count()) === 0, STEP_MS, 200);
      assert.equal((await broker.call('agentsList', {})).items.some((a) => a.did === agent.did), false, 'gone from the broker list');
      assert.equal((await broker.call('agentsGet', { did: agent.did })).status, 'revoked', 'still revoked behind the list');
    });

    // The demo goes on: it prints two commands that enroll an agent again (scripts/agent-exit.mjs); run as printed,
    // they bring a fresh pending registration to the same workbench, approved and answering like the first.
    await ui.step('enrolled-again', async () => {
      const startArgs = ['--state-dir', agentState, '--broker-url', `ws://127.0.0.1:${ui.hubPort}`, '--workspace', workspace, '--name', AGENT_NAME, '--request', REQUEST];
      const said = spawnSync(process.execPath, ['--input-type=module', '-e', `import { agentExitMessage } from ${JSON.stringify(join(ROOT, 'scripts', 'agent-exit.mjs'))}; process.stdout.write(agentExitMessage(JSON.parse(process.argv[1])));`, JSON.stringify({ root: ROOT, code: 3, signal: null, brokerDid, stateDir: agentState, startArgs })], { encoding: 'utf8', timeout: 30_000 });
      assert.match(said.stdout, /registration ended \(revoked or rejected\)[\s\S]*To enroll an agent again/);
      const commands = said.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('node '));
      assert.equal(commands.length, 2, said.stdout);
      const [init, start] = commands.map((c) => {
        assert.doesNotMatch(c, /['"\\]/, 'plain words, as a shell would split them');
        return c.split(/\s+/).slice(1);
      });
      assert.equal(init![1], 'init');
      run(process.execPath, init!, { timeoutMs: 30_000 });
      const again = spawn(process.execPath, start!, { stdio: 'ignore' });
      ui.defer(() => {
        if (again.exitCode === null && again.signalCode === null) again.kill('SIGKILL');
      });
      await waitText('a new pending registration', wb.pane('Agents'), /Pending registration[\s\S]*demo-agent[\s\S]*waiting for approval · online/);
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Approve Registration');
      await wb.picker(`Approve ${AGENT_NAME}`);
      await wb.quickInputBox.press('Enter');
      await wb.notification(/approved demo-agent with read_file, list_files, write_file, run_command/);
      await waitFor('the status bar in words', async () => /^\s*1 agent online\s*$/.test(await textOf(wb.statusItem)), STEP_MS, 200);
      const fresh = (await broker.call('agentsList', {})).items.find((a) => a.name === AGENT_NAME && a.status === 'approved');
      assert.ok(fresh && fresh.did !== agent.did, 'a new key, so a new registration');
      await wb.clearNotifications();
      await wb.dispatch(AGENT_NAME, 'read_file', ['hello.txt']);
      await wb.notification(/read_file on demo-agent succeeded/);
      assert.deepEqual(ui.cspViolations(), []);
    });
  } finally {
    await ui.close();
  }
});
