// Issue 17, cancel and the solo dead end, in a real workbench (../shared/design/testing.md, layer 3): the packaged
// .vsix in code-server with the extension's own local broker and a real agent process. A long command dispatched
// from the palette is cancelled from its progress notification, another from its Activity row: each time its
// processes on the agent host are gone and the broker records it cancelled. A write that needs a reviewer, by a
// user whom nobody else can review (the broker's only other user is the host's command line), is named in a modal
// before dispatch; dispatched anyway, its notification says it waits for a reviewer and opens its approval, and
// Cancel Intent on its Activity row withdraws it. Screenshots: test-output/ui/cancel-*.png. Fails, not skips, without code-server/Chromium.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IntentSummary } from '../../core/rpc/views';
import { processesWith } from '../support/host-processes';
import { waitFor } from '../support/processes';
import { UI_OUT, UiSession } from './support/session';
import { STEP_MS, waitText } from './support/workbench';

const USER_NAME = 'solo-user';
const AGENT_NAME = 'cancel-agent';

test('cancel in a real workbench: from the progress notification, from the Activity row, and the solo dead end before dispatch', { timeout: 300_000 }, async () => {
  const ui = await UiSession.start({ name: 'ui-cancel', shots: { prefix: 'cancel-', numbered: true }, logs: join(UI_OUT, 'cancel-logs'), userName: USER_NAME });
  const { page, wb, workspace } = ui;
  const markers: string[] = [];
  ui.defer(() => {
    for (const marker of markers) for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
  });
  try {
    const toasts = page.locator('.notifications-toasts');

    await ui.step('broker-connected', async () => {
      await ui.load();
      await ui.openVaultysClaw();
    });
    // The host's command line: the broker's only other user, as in the demo ("local operator").
    const { broker } = await ui.broker();
    const agent = await ui.step('agent-online', () => ui.approvedAgent(AGENT_NAME, { capabilities: ['run_command', 'write_file'], approvalRequired: ['write_file'] }));

    /** Dispatch Intent from the palette: `sleep 300.<marker>`, a command that runs until killed. */
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
      const detail = await waitFor('the agent\'s signed answer kept', async () => {
        const d = await broker.call('intentsGet', { id });
        return d.signedResult ? d : undefined;
      }, STEP_MS, 200);
      assert.deepEqual([detail.state, detail.reason], ['cancelled', 'cancelled']);
    };

    const first = await ui.step('long-command-running', async () => {
      const sent = await dispatchSleep();
      await waitText('the progress notification with its Cancel', toasts, /(?=[\s\S]*run_command on cancel-agent)(?=[\s\S]*\bCancel\b)/);
      return sent;
    });

    await ui.step('cancelled-from-notification', async () => {
      await toasts.locator('.monaco-button', { hasText: /^Cancel$/ }).first().click();
      await endsCancelled(first.marker, first.intent.id);
      await wb.notification(/run_command on cancel-agent cancelled/);
      await waitText('the Activity row', wb.pane('Activity'), new RegExp(`run_command sleep 300\\.${first.marker}[\\s\\S]*cancelled`));
    });

    await wb.clearNotifications();
    const second = await ui.step('second-command-running', () => dispatchSleep());

    await ui.step('activity-row-menu', async () => {
      await waitText('the running row', wb.pane('Activity'), new RegExp(`run_command sleep 300\\.${second.marker}[\\s\\S]*running`));
      await wb.clickRow('Activity', `300.${second.marker}`, 'right');
      await wb.menuItem('Cancel Intent');
      await waitText('the confirmation', page.locator('.monaco-dialog-box'), /Cancel run_command sleep 300\.\d+\?[\s\S]*a running command is killed/);
    });

    await ui.step('cancelled-from-activity-row', async () => {
      await page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Cancel Intent' }).click();
      await endsCancelled(second.marker, second.intent.id);
      await waitText('the Activity row', wb.pane('Activity'), new RegExp(`run_command sleep 300\\.${second.marker}[\\s\\S]*cancelled`));
    });

    await wb.clearNotifications();
    await ui.step('solo-dead-end-modal', async () => {
      await wb.command('VaultysClaw: Dispatch Intent');
      await wb.picker('Dispatch an intent to');
      await wb.choose(AGENT_NAME);
      await wb.picker(`Dispatch to ${AGENT_NAME}`);
      await wb.choose('write_file');
      await wb.picker(`write_file on ${AGENT_NAME} (1/3)`);
      await wb.answer('solo.txt');
      await wb.picker(`write_file on ${AGENT_NAME} (2/3)`);
      // The content is typed in a new untitled editor and handed over by Write to Agent (extension/commands/content-source.ts).
      await wb.choose('Type it in a new editor');
      const contentEditor = page.locator('.editor-group-container', { has: page.locator('.tab.active', { hasText: /Untitled-\d+/ }) }).locator('.monaco-editor .view-lines');
      await contentEditor.click();
      await page.keyboard.type('written only if reviewed');
      await waitText('the typed content', contentEditor, /written only if reviewed/);
      // From the editor's title bar, as the progress notification says.
      await page.locator('.editor-group-container', { has: page.locator('.tab.active', { hasText: /Untitled-\d+/ }) }).locator('.editor-actions .action-label[aria-label^="Write to Agent"]').click();
      await wb.picker(`write_file on ${AGENT_NAME} (3/3)`);
      await wb.choose('create');
      const dialog = await waitText('the modal before dispatch', page.locator('.monaco-dialog-box'), /needs a reviewer other than you; nobody else can review on this broker/);
      assert.match(dialog, /"local operator" is the broker host's own command-line key/);
      for (const choice of ['Dispatch Anyway', 'How to Invite a Reviewer', 'Cancel']) assert.ok(dialog.split('\n').includes(choice), `the modal offers ${choice}`);
      assert.equal((await broker.call('intentsList', { agent: agent.did, limit: 10 })).items.filter((i) => i.capability === 'write_file').length, 0, 'nothing sent before the choice');
    });

    const waiting = await ui.step('waiting-for-reviewer-notification', async () => {
      await page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Dispatch Anyway' }).click();
      const intent = await waitFor('the write at the broker', async () => (await broker.call('intentsList', { agent: agent.did, limit: 10 })).items.find((i) => i.capability === 'write_file'), STEP_MS, 200);
      assert.equal((await broker.call('intentsGet', { id: intent.id })).params.content, 'written only if reviewed', "the content editor's text, as typed");
      await waitText('the notification naming the wait', toasts, /(?=[\s\S]*waits for a reviewer: local operator\. "local operator" is the broker host's own command-line key)(?=[\s\S]*Open Approval)/);
      return intent;
    });

    await ui.step('open-approval', async () => {
      await toasts.locator('.monaco-button', { hasText: 'Open Approval' }).first().click();
      await waitText('the approval panel', wb.webview.locator('body'), /write_file/);
    });

    await ui.step('withdrawn', async () => {
      await wb.clickRow('Activity', 'write_file solo.txt', 'right');
      await wb.menuItem('Cancel Intent');
      await waitText('the confirmation', page.locator('.monaco-dialog-box'), /Cancel write_file solo\.txt\?[\s\S]*drops the call waiting for a reviewer/);
      await page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Cancel Intent' }).click();
      await waitFor('the write cancelled', async () => (await broker.call('intentsGet', { id: waiting.id })).state === 'cancelled', STEP_MS, 200);
      await waitFor('its approval no longer pending', async () => (await broker.call('approvalsList', { state: 'pending' })).items.every((a) => a.intentId !== waiting.id), STEP_MS, 200);
      await agent.log.waitFor('intent.rejected', (l) => l.intentId === waiting.id && l.reason === 'cancelled');
      assert.equal(existsSync(join(workspace, 'solo.txt')), false, 'nothing written');
    });
  } finally {
    await ui.close();
  }
});
