// Issue 17, clear words, in a real workbench (../shared/design/testing.md, layer 3): the packaged .vsix in code-server
// 4.100.3 driven by Chromium, with the extension's own local broker and real agent processes. The Agents view says
// "Connecting…" while the agent it was told to expect is on its way (not "No agents yet… Enroll one"); the registration
// is approved in one click with "Approve as requested"; the status bar reads "1 agent online"; the agent's row says its
// state and capabilities; Copy DID copies it; a revoked agent is removed from the list (and from the broker's list).
// Screenshots: test-output/ui/words-*.png. Fails, not skips, without code-server/Chromium.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BrokerClient } from '../../broker/cli/broker-client';
import { shortFingerprint } from '../../core/text/untrusted-text';
import { brokerCli, codeServerOrFail, copyExtensionLogs, freePort, installExtension, launchChromium, startCodeServer, writeUserSettings, type CodeServer } from '../support/code-server';
import { ROOT, startAgent, tempDir, waitFor, type AgentProcess } from '../support/processes';
import { packageVsix, STEP_MS, textOf, waitText, Workbench } from './support/workbench';

const OUT = join(ROOT, 'test-output', 'ui');
const LOGS = join(OUT, 'words-logs');
const USER_NAME = 'words-owner';
const AGENT_NAME = 'words-agent';
const OLD_AGENT = 'old-agent';

const cleanups: (() => Promise<void> | void)[] = [];

test('clear words in a real workbench: Connecting…, Approve as requested, the status bar, an agent row, Copy DID, Remove', { timeout: 240_000 }, async () => {
  codeServerOrFail();
  mkdirSync(LOGS, { recursive: true });
  for (const f of readdirSync(OUT).filter((f) => f.startsWith('words-') && f.endsWith('.png'))) rmSync(join(OUT, f));

  const runDir = tempDir('ui-words');
  const dataDir = join(runDir, 'broker');
  const userDataDir = join(runDir, 'user-data');
  const extensionsDir = join(runDir, 'extensions');
  const workspace = join(runDir, 'workspace');
  mkdirSync(workspace, { recursive: true });

  let browser: Browser | undefined;
  let page: Page | undefined;
  let stepNo = 0;
  const step = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    stepNo += 1;
    const file = `words-${String(stepNo).padStart(2, '0')}-${name}`;
    try {
      const result = await body();
      await page?.screenshot({ path: join(OUT, `${file}.png`) });
      return result;
    } catch (err) {
      await page?.screenshot({ path: join(OUT, `${file}-FAILED.png`) }).catch(() => undefined);
      throw new Error(`UI step ${stepNo} (${name}) failed: ${(err as Error).message}\nscreenshot: test-output/ui/${file}-FAILED.png; logs: test-output/ui/words-logs/`);
    }
  };

  let server: CodeServer | undefined;
  try {
    const hubPort = await freePort();
    installExtension({ runDir, userDataDir, extensionsDir, vsix: packageVsix(runDir) });
    writeUserSettings(userDataDir, {
      'vaultysclaw.brokerMode': 'local',
      'vaultysclaw.dataDir': dataDir,
      'vaultysclaw.hubPort': hubPort,
      'vaultysclaw.nodePath': process.execPath,
      'vaultysclaw.userName': USER_NAME,
      'vaultysclaw.expectedAgents': [AGENT_NAME],
    });
    server = await startCodeServer({ runDir, userDataDir, extensionsDir, workspace });
    cleanups.push(() => server!.stop());
    browser = await launchChromium(runDir);
    cleanups.push(() => browser?.close());
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const wb = new Workbench(page);

    // The agent is not started yet: the view must not tell the user to enroll one.
    await step('connecting', async () => {
      await page!.goto(`${server!.url}/?folder=${encodeURIComponent(workspace)}`);
      await page!.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
      await page!.locator('.activitybar [aria-label^="VaultysClaw"]').first().click();
      await waitFor('the broker connected', async () => /connected to local broker as words-owner \(owner\)/.test(await wb.statusLabel()), 60_000, 200);
      const shown = await waitText('the Connecting… welcome', wb.pane('Agents'), /Connecting… the agent started with this workbench/);
      assert.doesNotMatch(shown, /No agents yet/);
      assert.match(await textOf(wb.statusItem), /no agent online/);
      // No agent online: no Dispatch button on the Agents view's title, and the Activity view says why.
      assert.equal(await wb.pane('Agents').locator('.actions [aria-label^="Dispatch Intent"]').count(), 0);
      await waitText('why nothing can be dispatched', wb.pane('Activity'), /Dispatching needs an agent online/);
    });
    const broker = await BrokerClient.connect(dataDir);
    cleanups.push(() => broker.close());
    const brokerDid = (JSON.parse(brokerCli('identity', '--data-dir', dataDir, '--json')) as { did: string }).did;

    let agent!: AgentProcess;
    await step('approve-as-requested', async () => {
      agent = await startAgent({ brokerUrl: `ws://127.0.0.1:${hubPort}`, brokerDid, workspace, name: AGENT_NAME, request: 'read_file,list_files' });
      cleanups.push(() => agent.kill());
      await waitText('the pending registration', wb.pane('Agents'), /words-agent[\s\S]*waiting for approval · online · asks read_file, list_files/);
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Approve Registration');
      await wb.picker(`Approve ${AGENT_NAME}`);
      await waitText('the one-click choice, first', wb.quickInput.locator('.monaco-list-row').first(), /Approve as requested[\s\S]*read_file, list_files · no reviewer needed · 60 requests\/h · 30 days/);
    });
    await step('approved', async () => {
      await wb.quickInputBox.press('Enter');
      await wb.notification(/approved words-agent with read_file, list_files/);
      const view = await waitFor('the agent online with its policy', async () => {
        const v = await broker.call('agentsGet', { did: agent.did });
        return v.online && v.policy ? v : undefined;
      });
      assert.deepEqual(view.policy!.capabilities, ['read_file', 'list_files'], 'exactly what it asked for');
      assert.deepEqual(view.policy!.approvalRequired, []);
    });

    await step('status-bar', async () => {
      await waitFor('the status bar in words', async () => /^\s*1 agent online\s*$/.test(await textOf(wb.statusItem)), STEP_MS, 200);
      assert.match(await wb.statusLabel(), /1 agent online\. No tool call waiting for approval/);
    });

    await step('agent-row', async () => {
      const row = await waitText('the agent row', wb.row('Agents', AGENT_NAME), /online · read_file, list_files · /);
      assert.ok(row.includes(shortFingerprint(agent.did)), row);
      assert.doesNotMatch(await textOf(wb.pane('Agents')), /1 agents/);
      assert.match(await textOf(wb.pane('Agents')), /Online\s*1 agent/);
    });

    await step('copy-did', async () => {
      await wb.clickRow('Agents', AGENT_NAME, 'right');
      await wb.menuItem('Copy DID');
      await waitText('the copied DID said in the status bar', page!.locator('.statusbar'), new RegExp(`copied ${agent.did}`));
    });

    // A second agent, approved then revoked through the broker (revoking in the UI is covered by workbench.e2e).
    let old!: AgentProcess;
    await step('revoked-agent', async () => {
      old = await startAgent({ brokerUrl: `ws://127.0.0.1:${hubPort}`, brokerDid, name: OLD_AGENT, request: 'read_file' });
      cleanups.push(() => old.kill());
      await waitFor('its registration', async () => (await broker.call('agentsGet', { did: old.did }).catch(() => undefined))?.online === true, STEP_MS, 200);
      await broker.call('registrationsApprove', { did: old.did, policy: { capabilities: ['read_file'] } });
      await broker.call('agentsRevoke', { did: old.did, reason: 'decommissioned' });
      await waitText('the Revoked group', wb.pane('Agents'), /Revoked\s*1 agent/);
      await wb.clickRow('Agents', 'Revoked');
      await waitText('the revoked row', wb.row('Agents', OLD_AGENT), /revoked: decommissioned/);
    });
    await step('removed', async () => {
      await wb.clickRow('Agents', OLD_AGENT, 'right');
      await wb.menuItem('Remove from List');
      const dialog = page!.locator('.monaco-dialog-box');
      await waitText('the confirmation', dialog, /Remove old-agent \(revoked\) from the list\?[\s\S]*The audit log keeps its whole history/);
      await dialog.locator('.monaco-button', { hasText: 'Remove' }).first().click();
      await waitFor('the row gone', async () => (await wb.row('Agents', OLD_AGENT).count()) === 0, STEP_MS, 200);
      assert.equal((await broker.call('agentsList', {})).items.some((a) => a.did === old.did), false, 'gone from the broker list');
      assert.equal((await broker.call('agentsGet', { did: old.did })).status, 'revoked', 'still revoked behind the list');
    });
  } finally {
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    copyExtensionLogs(userDataDir, LOGS);
    if (server) writeFileSync(join(LOGS, 'code-server.log'), server.output.join(''));
    rmSync(runDir, { recursive: true, force: true });
  }
});
