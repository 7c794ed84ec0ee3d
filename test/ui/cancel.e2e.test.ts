// Issue 17, cancel and the solo dead end, in a real workbench (../shared/design/testing.md, layer 3): the packaged
// .vsix in code-server with the extension's own local broker and a real agent process. A long command dispatched
// from the palette is cancelled from its progress notification, another from its Activity row: each time its
// processes on the agent host are gone and the broker records it cancelled. A write that needs a reviewer, by a
// user whom nobody else can review (the broker's only other user is the host's command line), is named in a modal
// before dispatch; dispatched anyway, its notification says it waits for a reviewer and opens its approval, and
// Cancel Intent on its Activity row withdraws it. Screenshots: test-output/ui/cancel-*.png. Fails, not skips, without code-server/Chromium.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BrokerClient } from '../../broker/cli/broker-client';
import type { IntentSummary } from '../../core/rpc/views';
import { brokerCli, codeServerOrFail, copyExtensionLogs, freePort, installExtension, launchChromium, startCodeServer, writeUserSettings, type CodeServer } from '../support/code-server';
import { processesWith } from '../support/host-processes';
import { ROOT, startAgent, tempDir, waitFor, type AgentProcess } from '../support/processes';
import { packageVsix, STEP_MS, waitText, Workbench } from './support/workbench';

const OUT = join(ROOT, 'test-output', 'ui');
const LOGS = join(OUT, 'cancel-logs');
const USER_NAME = 'solo-user';
const AGENT_NAME = 'cancel-agent';

const cleanups: (() => Promise<void> | void)[] = [];

test('cancel in a real workbench: from the progress notification, from the Activity row, and the solo dead end before dispatch', { timeout: 300_000 }, async () => {
  codeServerOrFail();
  mkdirSync(OUT, { recursive: true });
  for (const f of readdirSync(OUT)) if (f.startsWith('cancel-') && f.endsWith('.png')) rmSync(join(OUT, f));
  rmSync(LOGS, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });

  const runDir = tempDir('ui-cancel');
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
    const file = `cancel-${String(stepNo).padStart(2, '0')}-${name}`;
    const started = Date.now();
    try {
      const result = await body();
      await page?.screenshot({ path: join(OUT, `${file}.png`) });
      console.log(`  ui step ${file}: ${Date.now() - started} ms`);
      return result;
    } catch (err) {
      await page?.screenshot({ path: join(OUT, `${file}-FAILED.png`) }).catch(() => undefined);
      throw new Error(`UI step ${stepNo} (${name}) failed: ${(err as Error).message}\nscreenshot: test-output/ui/${file}-FAILED.png; logs: test-output/ui/cancel-logs/`);
    }
  };

  let server: CodeServer | undefined;
  const consoleLines: string[] = [];
  const markers: string[] = [];
  try {
    const hubPort = await freePort();
    installExtension({ runDir, userDataDir, extensionsDir, vsix: packageVsix(runDir) });
    writeUserSettings(userDataDir, {
      'vaultysclaw.brokerMode': 'local',
      'vaultysclaw.dataDir': dataDir,
      'vaultysclaw.hubPort': hubPort,
      'vaultysclaw.nodePath': process.execPath,
      'vaultysclaw.userName': USER_NAME,
    });
    server = await startCodeServer({ runDir, userDataDir, extensionsDir, workspace });
    cleanups.push(() => server!.stop());
    browser = await launchChromium(runDir);
    cleanups.push(() => browser?.close());
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    const wb = new Workbench(page);
    const toasts = page.locator('.notifications-toasts');

    await step('broker-connected', async () => {
      await page!.goto(`${server!.url}/?folder=${encodeURIComponent(workspace)}`);
      await page!.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
      await page!.locator('.activitybar [aria-label^="VaultysClaw"]').first().click();
      await waitFor('the status bar to say the broker is connected', async () => new RegExp(`connected to local broker as ${USER_NAME} \\(owner\\)`).test(await wb.statusLabel()), 60_000, 200);
    });
    // The host's command line: the broker's only other user, as in the demo ("local operator").
    const broker = await BrokerClient.connect(dataDir);
    cleanups.push(() => broker.close());
    const brokerDid = (JSON.parse(brokerCli('identity', '--data-dir', dataDir, '--json')) as { did: string }).did;

    let agent!: AgentProcess;
    await step('agent-online', async () => {
      agent = await startAgent({ brokerUrl: `ws://127.0.0.1:${hubPort}`, brokerDid, workspace, name: AGENT_NAME, request: 'run_command,write_file' });
      cleanups.push(() => agent.kill());
      await waitFor('the registration', async () => (await broker.call('agentsGet', { did: agent.did }).catch(() => undefined))?.status === 'pending', STEP_MS, 200);
      await broker.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['run_command', 'write_file'], approvalRequired: ['write_file'] } });
      await waitFor('the agent online', async () => (await broker.call('agentsGet', { did: agent.did })).online, STEP_MS, 200);
      await waitText('the agent under Online', wb.pane('Agents'), new RegExp(`Online[\\s\\S]*${AGENT_NAME}`));
    });

    /** Dispatch Intent from the palette: `sleep 300.<marker>`, a command that runs until killed. */
    const dispatchSleep = async (): Promise<{ marker: string; intent: IntentSummary }> => {
      const marker = String(randomInt(1e8, 1e9));
      markers.push(marker);
      await wb.command('VaultysClaw: Dispatch Intent');
      await wb.picker('Dispatch an intent to');
      await wb.choose(AGENT_NAME);
      await wb.picker(`Dispatch to ${AGENT_NAME}`);
      await wb.choose('run_command');
      await wb.picker(`run_command on ${AGENT_NAME} (1/4)`);
      await wb.answer('sleep');
      await wb.picker(`run_command on ${AGENT_NAME} (2/4)`);
      await wb.answer(`300.${marker}`);
      await wb.picker(`run_command on ${AGENT_NAME} (3/4)`);
      await wb.answer(null);
      await wb.picker(`run_command on ${AGENT_NAME} (4/4)`);
      await wb.answer('600');
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

    const first = await step('long-command-running', async () => {
      const sent = await dispatchSleep();
      await waitText('the progress notification with its Cancel', toasts, /(?=[\s\S]*run_command on cancel-agent)(?=[\s\S]*\bCancel\b)/);
      return sent;
    });

    await step('cancelled-from-notification', async () => {
      await toasts.locator('.monaco-button', { hasText: /^Cancel$/ }).first().click();
      await endsCancelled(first.marker, first.intent.id);
      await wb.notification(/run_command on cancel-agent cancelled/);
      await waitText('the Activity row', wb.pane('Activity'), new RegExp(`run_command sleep 300\\.${first.marker}[\\s\\S]*cancelled`));
    });

    await wb.clearNotifications();
    const second = await step('second-command-running', () => dispatchSleep());

    await step('activity-row-menu', async () => {
      await waitText('the running row', wb.pane('Activity'), new RegExp(`run_command sleep 300\\.${second.marker}[\\s\\S]*running`));
      await wb.clickRow('Activity', `300.${second.marker}`, 'right');
      await wb.menuItem('Cancel Intent');
      await waitText('the confirmation', page!.locator('.monaco-dialog-box'), /Cancel run_command sleep 300\.\d+\?[\s\S]*a running command is killed/);
    });

    await step('cancelled-from-activity-row', async () => {
      await page!.locator('.monaco-dialog-box .monaco-button', { hasText: 'Cancel Intent' }).click();
      await endsCancelled(second.marker, second.intent.id);
      await waitText('the Activity row', wb.pane('Activity'), new RegExp(`run_command sleep 300\\.${second.marker}[\\s\\S]*cancelled`));
    });

    await wb.clearNotifications();
    await step('solo-dead-end-modal', async () => {
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
      const contentEditor = page!.locator('.editor-group-container', { has: page!.locator('.tab.active', { hasText: /Untitled-\d+/ }) }).locator('.monaco-editor .view-lines');
      await contentEditor.click();
      await page!.keyboard.type('written only if reviewed');
      await waitText('the typed content', contentEditor, /written only if reviewed/);
      // From the editor's title bar, as the progress notification says.
      await page!.locator('.editor-group-container', { has: page!.locator('.tab.active', { hasText: /Untitled-\d+/ }) }).locator('.editor-actions .action-label[aria-label^="Write to Agent"]').click();
      await wb.picker(`write_file on ${AGENT_NAME} (3/3)`);
      await wb.choose('create');
      const dialog = await waitText('the modal before dispatch', page!.locator('.monaco-dialog-box'), /needs a reviewer other than you; nobody else can review on this broker/);
      assert.match(dialog, /"local operator" is the broker host's own command-line key/);
      for (const choice of ['Dispatch Anyway', 'How to Invite a Reviewer', 'Cancel']) assert.ok(dialog.split('\n').includes(choice), `the modal offers ${choice}`);
      assert.equal((await broker.call('intentsList', { agent: agent.did, limit: 10 })).items.filter((i) => i.capability === 'write_file').length, 0, 'nothing sent before the choice');
    });

    const waiting = await step('waiting-for-reviewer-notification', async () => {
      await page!.locator('.monaco-dialog-box .monaco-button', { hasText: 'Dispatch Anyway' }).click();
      const intent = await waitFor('the write at the broker', async () => (await broker.call('intentsList', { agent: agent.did, limit: 10 })).items.find((i) => i.capability === 'write_file'), STEP_MS, 200);
      assert.equal((await broker.call('intentsGet', { id: intent.id })).params.content, 'written only if reviewed', "the content editor's text, as typed");
      await waitText('the notification naming the wait', toasts, /(?=[\s\S]*waits for a reviewer: local operator\. "local operator" is the broker host's own command-line key)(?=[\s\S]*Open Approval)/);
      return intent;
    });

    await step('open-approval', async () => {
      await toasts.locator('.monaco-button', { hasText: 'Open Approval' }).first().click();
      await waitText('the approval panel', wb.webview.locator('body'), /write_file/);
    });

    await step('withdrawn', async () => {
      await wb.clickRow('Activity', 'write_file solo.txt', 'right');
      await wb.menuItem('Cancel Intent');
      await waitText('the confirmation', page!.locator('.monaco-dialog-box'), /Cancel write_file solo\.txt\?[\s\S]*drops the call waiting for a reviewer/);
      await page!.locator('.monaco-dialog-box .monaco-button', { hasText: 'Cancel Intent' }).click();
      await waitFor('the write cancelled', async () => (await broker.call('intentsGet', { id: waiting.id })).state === 'cancelled', STEP_MS, 200);
      await waitFor('its approval no longer pending', async () => (await broker.call('approvalsList', { state: 'pending' })).items.every((a) => a.intentId !== waiting.id), STEP_MS, 200);
      await agent.log.waitFor('intent.rejected', (l) => l.intentId === waiting.id && l.reason === 'cancelled');
      assert.equal(existsSync(join(workspace, 'solo.txt')), false, 'nothing written');
    });
  } finally {
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    for (const marker of markers) for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
    copyExtensionLogs(userDataDir, LOGS);
    if (server) writeFileSync(join(LOGS, 'code-server.log'), server.output.join(''));
    writeFileSync(join(LOGS, 'browser-console.log'), `${consoleLines.join('\n')}\n`);
    if (process.env.VAULTYSCLAW_UI_KEEP) console.log(`  ui run folder kept: ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
  }
});
