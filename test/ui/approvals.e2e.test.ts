// Issue 17, approvals where the eye is, in a real workbench (../shared/design/testing.md, layer 3): the packaged .vsix
// in code-server, driven by Chromium, with the extension's own local broker and a real agent process. A second user
// (alice, an operator on the team WebSocket) writes a file that needs a reviewer; the demo owner is told by a
// notification with Review, which opens the panel with Approve at the top; the panel is checked in light, dark,
// High Contrast and High Contrast Light (every text readable there: test/ui/support/contrast.ts) and by keyboard; the owner approves from the diff editor's title bar (the diff opening in one
// reused group), and rejects alice's second write inline on its Approvals row, with a reason. Each tab is named after
// its call and renamed once decided. Screenshots: test-output/ui/approvals-*.png, hc-approval-*.png. Fails, not skips, without code-server/Chromium.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { highContrastCheck } from './support/contrast';
import { UI_OUT, UiSession } from './support/session';
import { waitFor } from '../support/processes';
import { STEP_MS, textOf, waitText } from './support/workbench';

const USER_NAME = 'demo-owner';
const AGENT_NAME = 'demo-agent';

test('approvals where the eye is: Review notification, Approve at the top, Approve from the diff title bar, inline Reject, themes', { timeout: 300_000 }, async () => {
  const ui = await UiSession.start({
    name: 'ui-approvals',
    shots: { prefix: 'approvals-', numbered: true },
    logs: join(UI_OUT, 'approvals-logs'),
    userName: USER_NAME,
    settings: { 'workbench.colorTheme': 'Default Light Modern' },
  });
  const { page, wb, workspace } = ui;
  try {
    // The visible approval panel's document (a hidden panel keeps no frame, but be exact when two are shown).
    const panel = () => wb.webview;
    const tab = (title: string) => page.locator('.tabs-container .tab', { hasText: title });
    const toasts = (pattern: RegExp) => page.locator('.notifications-toasts .notification-toast', { hasText: pattern });

    await ui.step('broker-connected', async () => {
      await ui.load();
      await ui.openVaultysClaw();
    });
    const { broker } = await ui.broker();

    // Set-up: a real agent whose writes need a reviewer, and alice, an operator granted write_file on it.
    const agent = await ui.step('agent-online', () => ui.approvedAgent(AGENT_NAME, { capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'] }));
    const alice = await ui.teammate('alice', 'operator', { agent: agent.did, capabilities: 'write_file' });

    const first = ui.dispatchAs(alice, agent.did, 'write_file', { path: 'notes.txt', content: 'reviewed by the owner\n', mode: 'create' });
    const firstId = await ui.step('review-notification', async () => {
      const pending = await ui.pendingApproval(first, "alice's paused write");
      await wb.notification(/alice \([0-9A-F ]+\) asks to write_file notes\.txt on demo-agent \([0-9A-F ]+\); your review is needed\./);
      assert.equal(await toasts(/asks to write_file notes\.txt/).count(), 1, 'one notification for the request');
      await waitText('the row', wb.pane('Approvals'), /write_file notes\.txt/);
      await page.waitForTimeout(500);
      return pending.requestId;
    });

    await ui.step('review-opens-panel', async () => {
      // A progress notification (it closes itself once the request is no longer this reviewer's): Review is a link in it.
      await toasts(/asks to write_file notes\.txt/).locator('a', { hasText: 'Review' }).click();
      await tab('Approve write_file notes.txt?').waitFor({ state: 'visible', timeout: STEP_MS });
      await waitText('the panel', panel().locator('#app'), /You review as demo-owner \(owner\)/);
      assert.equal(await textOf(panel().locator('#call')), 'write_file notes.txt');
      assert.equal(await textOf(panel().locator('#quorum')), '0 of 1 approval');
      // Approve sits at the top: above the parameters and the folded identifiers, inside the first screen.
      const approve = await panel().locator('#approve').boundingBox();
      const params = await panel().locator('h2', { hasText: 'Parameters' }).boundingBox();
      const details = await panel().locator('#details').boundingBox();
      assert.ok(approve && params && details, 'the panel laid out');
      assert.ok(approve.y < params.y && approve.y < details.y, `Approve at ${approve.y}, parameters at ${params.y}, details at ${details.y}`);
      assert.ok(approve.y < 400, `Approve within the first screen (${approve.y})`);
      assert.equal(await panel().locator('#details').getAttribute('open'), null, 'DIDs and ids folded');
      assert.doesNotMatch(await textOf(panel().locator('#app')), /did:vaultys:/, 'no DID on the first screen');
      assert.equal(await panel().locator('#approve').getAttribute('aria-label'), 'Approve write_file notes.txt');
      // Opening the same request again reveals its panel, it does not open a second one.
      await wb.clickRow('Approvals', 'write_file notes.txt');
      await page.waitForTimeout(500);
      assert.equal(await tab('write_file notes.txt').count(), 1, 'one panel per request');
    });

    await ui.step('keyboard-order', async () => {
      // Tab order: Approve, Reject, Withdraw (the owner is an admin: it may withdraw alice's request), the reason, then the details.
      await panel().locator('#approve').focus();
      const order: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        await page.keyboard.press('Tab');
        order.push(await panel().locator('body').evaluate((body: { ownerDocument: { activeElement: { id: string; tagName: string } | null } }) => body.ownerDocument.activeElement?.id || body.ownerDocument.activeElement?.tagName.toLowerCase() || ''));
      }
      assert.deepEqual(order, ['reject', 'withdraw', 'reason'], order.join(' → '));
    });

    // The theme as a person's settings change it (the workbench reloads its settings file), then the panel again.
    const theme = async (id: string, workbenchClass: RegExp, shot: string | null) => {
      await ui.setTheme(id, workbenchClass);
      await page.waitForTimeout(500);
      await waitText(`the panel in ${id}`, panel().locator('#app'), /You review as demo-owner/);
      if (shot) await ui.shot(shot);
    };
    await ui.step('light', () => theme('Default Light Modern', /(^|\s)vs(\s|$)/, 'approvals-light'));
    await ui.step('dark', () => theme('Default Dark Modern', /\bvs-dark\b/, 'approvals-dark'));
    // High Contrast (dark) and High Contrast Light: every text of the panel readable against what is behind it.
    await ui.step('high-contrast', async () => {
      await theme('Default High Contrast', /\bhc-black\b/, null);
      await highContrastCheck(panel(), 'h1', 'the approval panel in High Contrast');
      await ui.shot('approvals-high-contrast');
      await ui.shot('hc-approval-dark');
    });
    await ui.step('high-contrast-light', async () => {
      await theme('Default High Contrast Light', /\bhc-light\b/, null);
      await highContrastCheck(panel(), 'h1', 'the approval panel in High Contrast Light');
      await ui.shot('hc-approval-light');
    });
    await theme('Default Light Modern', /(^|\s)vs(\s|$)/, null);

    const groups = () => page.locator('.editor-group-container').count();
    await ui.step('approve-from-diff-title-bar', async () => {
      await panel().locator('#open-diff').click();
      const diffTab = tab('notes.txt: new file ↔ proposed');
      await diffTab.waitFor({ state: 'visible', timeout: STEP_MS });
      assert.equal(await groups(), 2, 'the panel and the diff beside it');
      const diffGroup = page.locator('.editor-group-container', { has: diffTab });
      await diffGroup.locator('.action-label.codicon-check').click();
      await waitFor('the approval in the broker', async () => (await broker.call('approvalsGet', { requestId: firstId })).state === 'approved', STEP_MS, 200);
      assert.equal((await broker.call('approvalsGet', { requestId: firstId })).approvals.length, 1);
      await wb.notification(/you approved write_file notes\.txt; the decision was signed with your key/);
      await tab('Approved: write_file notes.txt').waitFor({ state: 'visible', timeout: STEP_MS });
      const code = await first.exitWithin(STEP_MS);
      assert.equal(code, 0, `alice's dispatch ended with ${code}:\n${first.output.join('')}`);
      assert.equal(readFileSync(join(workspace, 'notes.txt'), 'utf8'), 'reviewed by the owner\n');
      await wb.clearNotifications();
    });

    const second = ui.dispatchAs(alice, agent.did, 'write_file', { path: 'todo.txt', content: 'not this one\n', mode: 'create' });
    const secondId = await ui.step('second-request', async () => {
      const pending = await waitFor('alice\'s second write', async () => (await broker.call('approvalsList', { state: 'pending' })).items[0], STEP_MS, 200);
      await wb.notification(/asks to write_file todo\.txt on demo-agent/);
      await waitText('the row', wb.pane('Approvals'), /write_file todo\.txt/);
      await wb.clickRow('Approvals', 'write_file todo.txt');
      await tab('Approve write_file todo.txt?').waitFor({ state: 'visible', timeout: STEP_MS });
      await waitText('the second panel', panel().locator('#call'), /^write_file todo\.txt$/);
      assert.equal(await tab('Approved: write_file notes.txt').count(), 1, 'two requests, two tabs with distinct titles');
      await panel().locator('#open-diff').click();
      await tab('todo.txt: new file ↔ proposed').waitFor({ state: 'visible', timeout: STEP_MS });
      assert.equal(await groups(), 2, 'the second diff in the same group, not a third one');
      assert.equal(await tab('notes.txt: new file ↔ proposed').count(), 0, 'one diff editor, reused');
      assert.equal(await toasts(/asks to write_file todo\.txt/).count(), 1, 'still one notification for it');
      return pending.requestId;
    });

    await ui.step('inline-reject', async () => {
      const row = wb.row('Approvals', 'write_file todo.txt');
      await row.hover();
      await row.locator('.action-label.codicon-close').click();
      await wb.picker('Reject write_file todo.txt');
      await wb.answer('not this one, thanks');
      await waitFor('the rejection in the broker', async () => (await broker.call('approvalsGet', { requestId: secondId })).state === 'rejected', STEP_MS, 200);
      assert.equal((await broker.call('approvalsGet', { requestId: secondId })).reason, 'not this one, thanks');
      await tab('Rejected: write_file todo.txt').waitFor({ state: 'visible', timeout: STEP_MS });
      await waitText('the decision in the panel', panel().locator('#app'), /This request was rejected by demo-owner \([0-9A-F ]+\) at .* — “not this one, thanks”\./);
      await panel().locator('#close').waitFor({ state: 'visible', timeout: STEP_MS });
      const code = await second.exitWithin(STEP_MS);
      assert.notEqual(code, 0, `a rejected write fails alice's dispatch:\n${second.output.join('')}`);
      assert.ok(!existsSync(join(workspace, 'todo.txt')), 'nothing written');
      await waitFor('the Approvals view empty', async () => (await wb.row('Approvals', 'write_file').count()) === 0, STEP_MS, 200);
    });

    await ui.step('close-decided', async () => {
      await panel().locator('#close').click();
      await tab('Rejected: write_file todo.txt').waitFor({ state: 'detached', timeout: STEP_MS });
      assert.deepEqual(ui.cspViolations(), []);
    });
  } finally {
    await ui.close();
  }
});
