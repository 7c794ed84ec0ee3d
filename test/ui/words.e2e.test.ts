// Issue 17, clear words, in a real workbench (../shared/design/testing.md, layer 3): the packaged .vsix in code-server
// 4.100.3 driven by Chromium, with the extension's own local broker and real agent processes. The Agents view says
// "Connecting…" while the agent it was told to expect is on its way (not "No agents yet… Enroll one"); the registration
// is approved in one click with "Approve as requested"; the status bar reads "1 agent online"; the agent's row says its
// state and capabilities; Copy DID copies it; a revoked agent is removed from the list (and from the broker's list).
// Screenshots: test-output/ui/words-*.png. Fails, not skips, without code-server/Chromium.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { shortFingerprint } from '../../core/text/untrusted-text';
import { type AgentProcess, waitFor } from '../support/processes';
import { UI_OUT, UiSession } from './support/session';
import { STEP_MS, textOf, waitText } from './support/workbench';

const USER_NAME = 'words-owner';
const AGENT_NAME = 'words-agent';
const OLD_AGENT = 'old-agent';

test('clear words in a real workbench: Connecting…, Approve as requested, the status bar, an agent row, Copy DID, Remove', { timeout: 240_000 }, async () => {
  const ui = await UiSession.start({
    name: 'ui-words',
    shots: { prefix: 'words-', numbered: true },
    logs: join(UI_OUT, 'words-logs'),
    userName: USER_NAME,
    settings: { 'vaultysclaw.expectedAgents': [AGENT_NAME] },
  });
  const { page, wb } = ui;
  try {
    // The agent is not started yet: the view must not tell the user to enroll one.
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
    const { broker } = await ui.broker();

    let agent!: AgentProcess;
    await ui.step('approve-as-requested', async () => {
      agent = await ui.startAgent(AGENT_NAME, 'read_file,list_files');
      await waitText('the pending registration', wb.pane('Agents'), /words-agent[\s\S]*waiting for approval · online · asks read_file, list_files/);
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Approve Registration');
      await wb.picker(`Approve ${AGENT_NAME}`);
      await waitText('the one-click choice, first', wb.quickInput.locator('.monaco-list-row').first(), /Approve as requested[\s\S]*read_file, list_files · no reviewer needed · 60 requests\/h · 30 days/);
    });
    await ui.step('approved', async () => {
      await wb.quickInputBox.press('Enter');
      await wb.notification(/approved words-agent with read_file, list_files/);
      const view = await waitFor('the agent online with its policy', async () => {
        const v = await broker.call('agentsGet', { did: agent.did });
        return v.online && v.policy ? v : undefined;
      });
      assert.deepEqual(view.policy!.capabilities, ['read_file', 'list_files'], 'exactly what it asked for');
      assert.deepEqual(view.policy!.approvalRequired, []);
    });

    await ui.step('status-bar', async () => {
      await waitFor('the status bar in words', async () => /^\s*1 agent online\s*$/.test(await textOf(wb.statusItem)), STEP_MS, 200);
      assert.match(await wb.statusLabel(), /1 agent online\. No tool call waiting for approval/);
    });

    await ui.step('agent-row', async () => {
      const row = await waitText('the agent row', wb.row('Agents', AGENT_NAME), /online · read_file, list_files · /);
      assert.ok(row.includes(shortFingerprint(agent.did)), row);
      assert.doesNotMatch(await textOf(wb.pane('Agents')), /1 agents/);
      assert.match(await textOf(wb.pane('Agents')), /Online\s*1 agent/);
    });

    await ui.step('copy-did', async () => {
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Copy DID');
      await waitText('the copied DID said in the status bar', page.locator('.statusbar'), new RegExp(`copied ${agent.did}`));
    });

    // A second agent, approved then revoked through the broker (revoking in the UI is covered by workbench.e2e).
    let old!: AgentProcess;
    await ui.step('revoked-agent', async () => {
      old = await ui.startAgent(OLD_AGENT, 'read_file', { workspace: join(ui.dirs.run, 'old-workspace') });
      await waitFor('its registration', async () => (await broker.call('agentsGet', { did: old.did }).catch(() => undefined))?.online === true, STEP_MS, 200);
      await broker.call('registrationsApprove', { did: old.did, policy: { capabilities: ['read_file'] } });
      await broker.call('agentsRevoke', { did: old.did, reason: 'decommissioned' });
      await waitText('the Revoked group', wb.pane('Agents'), /Revoked\s*1 agent/);
      await wb.clickRow('Agents', 'Revoked');
      await waitText('the revoked row', wb.row('Agents', OLD_AGENT), /revoked: decommissioned/);
    });
    await ui.step('removed', async () => {
      await wb.clickRow('Agents', OLD_AGENT, 'right');
      await wb.menuItem('Remove from List');
      const dialog = page.locator('.monaco-dialog-box');
      await waitText('the confirmation', dialog, /Remove old-agent \(revoked\) from the list\?[\s\S]*The audit log keeps its whole history/);
      await dialog.locator('.monaco-button', { hasText: 'Remove' }).first().click();
      await waitFor('the row gone', async () => (await wb.row('Agents', OLD_AGENT).count()) === 0, STEP_MS, 200);
      assert.equal((await broker.call('agentsList', {})).items.some((a) => a.did === old.did), false, 'gone from the broker list');
      assert.equal((await broker.call('agentsGet', { did: old.did })).status, 'revoked', 'still revoked behind the list');
    });
  } finally {
    await ui.close();
  }
});
