// Issue 17, approvals where the eye is, in a real workbench (../shared/design/testing.md, layer 3): the packaged .vsix
// in code-server, driven by Chromium, with the extension's own local broker and a real agent process. A second user
// (alice, an operator on the team WebSocket) writes a file that needs a reviewer; the demo owner is told by a
// notification with Review, which opens the panel with Approve at the top; the panel is checked in light, dark and
// high-contrast themes and by keyboard; the owner approves from the diff editor's title bar (the diff opening in one
// reused group), and rejects alice's second write inline on its Approvals row, with a reason. Each tab is named after
// its call and renamed once decided. Screenshots: test-output/ui/approvals-*.png. Fails, not skips, without code-server/Chromium.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BrokerClient } from '../../broker/cli/broker-client';
import { brokerCli, codeServerOrFail, copyExtensionLogs, freePort, installExtension, launchChromium, startCodeServer, writeUserSettings, type CodeServer } from '../support/code-server';
import { ROOT, startAgent, tempDir, waitFor, type AgentProcess } from '../support/processes';
import { packageVsix, STEP_MS, textOf, waitText, Workbench } from './support/workbench';

const OUT = join(ROOT, 'test-output', 'ui');
const LOGS = join(OUT, 'approvals-logs');
const DIST = join(ROOT, 'dist');
const USER_NAME = 'demo-owner';
const AGENT_NAME = 'demo-agent';

const cleanups: (() => Promise<void> | void)[] = [];

/** alice's dispatch through the broker CLI, as a second person at another machine would send it; it waits for the review. */
function dispatchAs(remote: string[], agent: string, params: Record<string, unknown>): { child: ChildProcess; output: string[]; exit: Promise<number | null> } {
  const output: string[] = [];
  const child = spawn(process.execPath, [join(DIST, 'broker.js'), 'dispatch', ...remote, agent, 'write_file', JSON.stringify(params), '--timeout', '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.stdout!.setEncoding('utf8').on('data', (c: string) => output.push(c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => output.push(c));
  return { child, output, exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

async function exitWithin(exit: Promise<number | null>, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  clearTimeout(timer);
  return code;
}

test('approvals where the eye is: Review notification, Approve at the top, Approve from the diff title bar, inline Reject, themes', { timeout: 300_000 }, async () => {
  codeServerOrFail();
  mkdirSync(LOGS, { recursive: true });
  for (const f of readdirSync(OUT)) if (/^approvals-.*\.png$/.test(f)) rmSync(join(OUT, f));

  const runDir = tempDir('ui-approvals');
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
    const file = `approvals-${String(stepNo).padStart(2, '0')}-${name}`;
    const started = Date.now();
    try {
      const result = await body();
      await page?.screenshot({ path: join(OUT, `${file}.png`) });
      console.log(`  ui step ${file}: ${Date.now() - started} ms`);
      return result;
    } catch (err) {
      await page?.screenshot({ path: join(OUT, `${file}-FAILED.png`) }).catch(() => undefined);
      throw new Error(`UI step ${stepNo} (${name}) failed: ${(err as Error).message}\nscreenshot: test-output/ui/${file}-FAILED.png; logs: test-output/ui/approvals-logs/`);
    }
  };

  let server: CodeServer | undefined;
  const consoleLines: string[] = [];
  try {
    const hubPort = await freePort();
    installExtension({ runDir, userDataDir, extensionsDir, vsix: packageVsix(runDir) });
    const settings = {
      'vaultysclaw.brokerMode': 'local',
      'vaultysclaw.dataDir': dataDir,
      'vaultysclaw.hubPort': hubPort,
      'vaultysclaw.nodePath': process.execPath,
      'vaultysclaw.userName': USER_NAME,
      'workbench.colorTheme': 'Default Light Modern',
    };
    writeUserSettings(userDataDir, settings);
    server = await startCodeServer({ runDir, userDataDir, extensionsDir, workspace });
    cleanups.push(() => server!.stop());
    browser = await launchChromium(runDir);
    cleanups.push(() => browser?.close());
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    const wb = new Workbench(page);
    // The visible approval panel's document (a hidden panel keeps no frame, but be exact when two are shown).
    const panel = () => page!.frameLocator('iframe.webview.ready >> visible=true').frameLocator('#active-frame');
    const tab = (title: string) => page!.locator('.tabs-container .tab', { hasText: title });
    const toasts = (pattern: RegExp) => page!.locator('.notifications-toasts .notification-toast', { hasText: pattern });

    await step('broker-connected', async () => {
      await page!.goto(`${server!.url}/?folder=${encodeURIComponent(workspace)}`);
      await page!.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
      await page!.locator('.activitybar [aria-label^="VaultysClaw"]').first().click();
      await waitFor('the status bar to say the broker is connected', async () => new RegExp(`connected to local broker as ${USER_NAME} \\(owner\\)`).test(await wb.statusLabel()), 60_000, 200);
    });
    const broker = await BrokerClient.connect(dataDir);
    cleanups.push(() => broker.close());
    const brokerDid = (JSON.parse(brokerCli('identity', '--data-dir', dataDir, '--json')) as { did: string }).did;

    // Set-up: a real agent whose writes need a reviewer, and alice, an operator granted write_file on it.
    let agent!: AgentProcess;
    await step('agent-online', async () => {
      agent = await startAgent({ brokerUrl: `ws://127.0.0.1:${hubPort}`, brokerDid, workspace, name: AGENT_NAME, request: 'read_file,list_files,write_file' });
      cleanups.push(() => agent.kill());
      await waitFor('the registration', async () => (await broker.call('agentsGet', { did: agent.did }).catch(() => undefined))?.status === 'pending', STEP_MS, 200);
      await broker.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'] } });
      await waitFor('the agent online', async () => (await broker.call('agentsGet', { did: agent.did })).online, STEP_MS, 200);
      await waitText('the agent under Online', wb.pane('Agents'), /Online[\s\S]*demo-agent/);
    });
    const alice = join(runDir, 'alice.key');
    const aliceDid = brokerCli('keygen', alice).trim();
    const remote = ['--url', `ws://127.0.0.1:${hubPort}`, '--broker-did', brokerDid, '--key', alice, '--name', 'alice'];
    const tokenFile = join(runDir, 'alice.invitation');
    writeFileSync(tokenFile, brokerCli('invite', '--data-dir', dataDir, '--role', 'operator', '--token-only').trim(), { mode: 0o600 });
    brokerCli('join', ...remote, '--invitation-file', tokenFile);
    brokerCli('grant', aliceDid, '--agent', agent.did, '--capabilities', 'write_file', '--data-dir', dataDir);

    const first = dispatchAs(remote, agent.did, { path: 'notes.txt', content: 'reviewed by the owner\n', mode: 'create' });
    const firstId = await step('review-notification', async () => {
      const pending = await waitFor('alice\'s paused write', async () => {
        if (first.child.exitCode !== null) throw new Error(`alice's dispatch ended before any review (${first.child.exitCode}):\n${first.output.join('')}`);
        return (await broker.call('approvalsList', { state: 'pending' })).items[0];
      }, STEP_MS, 200);
      await wb.notification(/alice \([0-9A-F ]+\) asks to write_file notes\.txt on demo-agent \([0-9A-F ]+\); your review is needed\./);
      assert.equal(await toasts(/asks to write_file notes\.txt/).count(), 1, 'one notification for the request');
      await waitText('the row', wb.pane('Approvals'), /write_file notes\.txt/);
      await page!.waitForTimeout(500);
      return pending.requestId;
    });

    await step('review-opens-panel', async () => {
      await toasts(/asks to write_file notes\.txt/).locator('.monaco-button', { hasText: 'Review' }).click();
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
      await page!.waitForTimeout(500);
      assert.equal(await tab('write_file notes.txt').count(), 1, 'one panel per request');
    });

    await step('keyboard-order', async () => {
      // Tab order: Approve, Reject, the reason, then the details.
      await panel().locator('#approve').focus();
      const order: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        await page!.keyboard.press('Tab');
        order.push(await panel().locator('body').evaluate((body: { ownerDocument: { activeElement: { id: string; tagName: string } | null } }) => body.ownerDocument.activeElement?.id || body.ownerDocument.activeElement?.tagName.toLowerCase() || ''));
      }
      assert.deepEqual(order.slice(0, 2), ['reject', 'reason'], order.join(' → '));
    });

    // The theme as a person's settings change it (the workbench reloads its settings file), then the panel again.
    const theme = async (id: string, workbenchClass: RegExp, shot: string | null) => {
      writeUserSettings(userDataDir, { ...settings, 'workbench.colorTheme': id });
      await waitFor(`the ${id} theme`, async () => workbenchClass.test((await page!.locator('.monaco-workbench').getAttribute('class')) ?? ''), STEP_MS, 200);
      await page!.waitForTimeout(500);
      await waitText(`the panel in ${id}`, panel().locator('#app'), /You review as demo-owner/);
      if (shot) await page!.screenshot({ path: join(OUT, shot) });
    };
    await step('light', () => theme('Default Light Modern', /(^|\s)vs(\s|$)/, 'approvals-light.png'));
    await step('dark', () => theme('Default Dark Modern', /\bvs-dark\b/, 'approvals-dark.png'));
    await step('high-contrast', () => theme('Default High Contrast', /\bhc-black\b/, 'approvals-high-contrast.png'));
    await theme('Default Light Modern', /(^|\s)vs(\s|$)/, null);

    const groups = () => page!.locator('.editor-group-container').count();
    await step('approve-from-diff-title-bar', async () => {
      await panel().locator('#open-diff').click();
      const diffTab = tab('notes.txt: new file ↔ proposed');
      await diffTab.waitFor({ state: 'visible', timeout: STEP_MS });
      assert.equal(await groups(), 2, 'the panel and the diff beside it');
      const diffGroup = page!.locator('.editor-group-container', { has: diffTab });
      await diffGroup.locator('.action-label.codicon-check').click();
      await waitFor('the approval in the broker', async () => (await broker.call('approvalsGet', { requestId: firstId })).state === 'approved', STEP_MS, 200);
      assert.equal((await broker.call('approvalsGet', { requestId: firstId })).approvals.length, 1);
      await wb.notification(/you approved write_file notes\.txt; the decision was signed with your key/);
      await tab('Approved: write_file notes.txt').waitFor({ state: 'visible', timeout: STEP_MS });
      const code = await exitWithin(first.exit, STEP_MS);
      assert.equal(code, 0, `alice's dispatch ended with ${code}:\n${first.output.join('')}`);
      assert.equal(readFileSync(join(workspace, 'notes.txt'), 'utf8'), 'reviewed by the owner\n');
      await wb.clearNotifications();
    });

    const second = dispatchAs(remote, agent.did, { path: 'todo.txt', content: 'not this one\n', mode: 'create' });
    const secondId = await step('second-request', async () => {
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

    await step('inline-reject', async () => {
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
      const code = await exitWithin(second.exit, STEP_MS);
      assert.notEqual(code, 0, `a rejected write fails alice's dispatch:\n${second.output.join('')}`);
      assert.ok(!existsSync(join(workspace, 'todo.txt')), 'nothing written');
      await waitFor('the Approvals view empty', async () => (await wb.row('Approvals', 'write_file').count()) === 0, STEP_MS, 200);
    });

    await step('close-decided', async () => {
      await panel().locator('#close').click();
      await tab('Rejected: write_file todo.txt').waitFor({ state: 'detached', timeout: STEP_MS });
      assert.deepEqual(consoleLines.filter((l) => /Content Security Policy|Refused to (load|execute|apply|connect)/.test(l)), []);
    });
  } finally {
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    copyExtensionLogs(userDataDir, LOGS);
    if (server) writeFileSync(join(LOGS, 'code-server.log'), server.output.join(''));
    writeFileSync(join(LOGS, 'browser-console.log'), `${consoleLines.join('\n')}\n`);
    if (process.env.VAULTYSCLAW_UI_KEEP) console.log(`  ui run folder kept: ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
  }
});
