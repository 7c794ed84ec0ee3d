// Issue 21, the deep link a webhook notification carries, in a real workbench (../shared/design/testing.md, layer 3):
// the packaged .vsix in code-server, driven by Chromium, its own local broker and a real agent process. alice (an
// operator on the team WebSocket) writes a file that needs a reviewer; the link vscode://vaultysclaw.vaultysclaw/
// approval?id=… is opened through the workbench's URL service (Developer: Open URL, the path VS Code routes an
// opened vscode:// link along: its extension URL handler asks once whether VaultysClaw may open it, activates it on
// onUri and calls the extension's registerUriHandler), which opens that request's approval panel and decides nothing.
// A link with anything more than one id, or an id the broker does not know, is refused with a clear message that
// does not echo it; a link to a request already decided opens it and says so.
// Screenshots: test-output/ui/approval-link-*.png. Fails, not skips, without code-server/Chromium.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { BrokerClient } from '../../broker/cli/broker-client';
import { approvalLink } from '../../core/ops/approval-link';
import { sealDecision } from '../../extension/approval/decision';
import { generateUserIdentity } from '../../extension/identity/user-key';
import { brokerCli } from '../support/code-server';
import { UI_OUT, UiSession } from './support/session';
import { STEP_MS, textOf, waitText } from './support/workbench';

const USER_NAME = 'link-owner';
const AGENT_NAME = 'link-agent';

test('an approval deep link opens its panel in the workbench, and nothing else', { timeout: 300_000 }, async () => {
  const ui = await UiSession.start({
    name: 'ui-approval-link',
    shots: { prefix: 'approval-link-', numbered: true },
    logs: join(UI_OUT, 'approval-link-logs'),
    userName: USER_NAME,
    settings: { 'workbench.colorTheme': 'Default Light Modern' },
  });
  const { page, wb } = ui;
  try {
    const tab = (title: string) => page.locator('.tabs-container .tab', { hasText: title });
    const dialog = page.locator('.monaco-dialog-box');
    /** Developer: Open URL, the link typed in, as a link opened from a chat message reaches the workbench's URL service. */
    const openLink = async (link: string) => {
      await wb.command('Developer: Open URL');
      await wb.quickInputBox.waitFor({ state: 'visible', timeout: STEP_MS });
      await wb.answer(link);
    };

    await ui.step('broker-connected', async () => {
      await ui.load();
      await ui.openVaultysClaw();
    });
    const { broker, brokerDid } = await ui.broker();
    const agent = await ui.approvedAgent(AGENT_NAME, { capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'] });
    const alice = await ui.teammate('alice', 'operator', { agent: agent.did, capabilities: 'write_file' });
    const write = ui.dispatchAs(alice, agent.did, 'write_file', { path: 'notes.txt', content: 'opened from a link\n', mode: 'create' });
    const pending = await ui.pendingApproval(write, "alice's paused write");
    await wb.notification(/asks to write_file notes\.txt/);
    await wb.clearNotifications();
    assert.equal(await tab('write_file notes.txt').count(), 0, 'no panel open before the link');

    await ui.step('link-asks-once', async () => {
      await openLink(approvalLink(pending.requestId));
      // VS Code's own question before an extension handles a link: the person sees what is being opened.
      await waitText('the workbench asking to open the link', dialog, /Allow 'VaultysClaw' extension to open this URI\?/);
    });

    await ui.step('link-opens-panel', async () => {
      await dialog.locator('.monaco-checkbox, input[type=checkbox]').first().click();
      await dialog.locator('.monaco-button', { hasText: /^Open$/ }).click();
      await tab('Approve write_file notes.txt?').waitFor({ state: 'visible', timeout: STEP_MS });
      await waitText('the panel', wb.webview.locator('#app'), /You review as link-owner \(owner\)/);
      assert.equal(await textOf(wb.webview.locator('#call')), 'write_file notes.txt');
      // Opened, not decided: the decision stays the reviewer's, signed in the panel.
      assert.equal((await broker.call('approvalsGet', { requestId: pending.requestId })).state, 'pending');
    });

    await ui.step('link-with-more-refused', async () => {
      await openLink(`${approvalLink(pending.requestId)}&decision=approve`);
      const shown = await wb.notification(/an approval link carries exactly one id and nothing else\. The link was not opened\./);
      assert.doesNotMatch(shown, /decision=approve|vscode:\/\//, 'the link is never echoed');
      assert.equal((await broker.call('approvalsGet', { requestId: pending.requestId })).state, 'pending');
      assert.equal(await tab('write_file notes.txt').count(), 1, 'no second panel');
    });

    await ui.step('link-unknown-request', async () => {
      await wb.clearNotifications();
      await openLink(approvalLink(randomBytes(16).toString('hex')));
      await wb.notification(/the broker you are connected to has no such approval request/);
      assert.equal(await tab('write_file notes.txt').count(), 1);
    });

    await ui.step('link-to-decided-request', async () => {
      // bob, a reviewer with a key of his own, approves; the link then opens the request and says it is decided.
      const bobKey = generateUserIdentity();
      const bob = await BrokerClient.connectRemote(`ws://127.0.0.1:${ui.hubPort}`, brokerDid, bobKey, {
        name: 'bob',
        invitation: brokerCli('invite', '--data-dir', ui.dataDir, '--role', 'reviewer', '--token-only').trim(),
      });
      ui.defer(() => bob.close());
      const sealed = sealDecision(bobKey, await bob.call('approvalsGet', { requestId: pending.requestId }), 'approve', 'fine');
      assert.equal((await bob.call('approvalsDecide', { payload: sealed.payload, signature: sealed.signature })).state, 'approved');
      assert.equal(await write.exitWithin(STEP_MS), 0, write.output.join(''));
      await tab('Approved: write_file notes.txt').waitFor({ state: 'visible', timeout: STEP_MS });
      await wb.clearNotifications();
      await openLink(approvalLink(pending.requestId));
      await wb.notification(/This request is already approved\./);
      assert.equal(await tab('write_file notes.txt').count(), 1, 'the same panel, revealed');
    });
  } finally {
    await ui.close();
  }
});
