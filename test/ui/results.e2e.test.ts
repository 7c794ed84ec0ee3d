// Issue 17, "results you can read", in a real workbench (../shared/design/testing.md, layer 3): the packaged .vsix
// in code-server, driven by Chromium, with the extension's own local broker and a real agent. The user dispatches
// read_file, list_files and run_command from the palette and reads each in the one reused result view: the file as
// a read-only TypeScript document, the listing as a table, the command's stdout and stderr as text (streamed while
// it runs), its exit code and duration; then Verify and Show Signed Envelope; then the same view in a dark theme.
// Screenshots: test-output/ui/results-<tool>.png, results-verify.png, results-envelope.png, results-dark.png.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { BrokerClient } from '../../broker/cli/broker-client';
import { brokerCli, codeServerOrFail, copyExtensionLogs, freePort, installExtension, launchChromium, startCodeServer, writeUserSettings, type CodeServer } from '../support/code-server';
import { ROOT, startAgent, tempDir, waitFor, type AgentProcess } from '../support/processes';
import { packageVsix, STEP_MS, textOf, waitText, Workbench } from './support/workbench';

const OUT = join(ROOT, 'test-output', 'ui');
const LOGS = join(OUT, 'results-logs');
const USER_NAME = 'results-user';
const AGENT_NAME = 'results-agent';
const SOURCE = 'export const answer: number = 42;\n// "quoted", not escaped\n';
const SCRIPT = 'for i in 1 2 3; do echo line $i; sleep 2; done; echo oops >&2; exit 3';

const cleanups: (() => Promise<void> | void)[] = [];
/** What evaluate() sees inside the webview (this file compiles without the DOM's types; the function is sent as text). */
type Styled = { getComputedStyle(e: unknown): { whiteSpace: string; backgroundColor: string } };

test('results in a real workbench: read_file, list_files and run_command in the one result view, Verify, the envelope, a dark theme', { timeout: 240_000 }, async () => {
  codeServerOrFail();
  mkdirSync(LOGS, { recursive: true });
  for (const f of readdirSync(OUT).filter((f) => f.startsWith('results-') && f.endsWith('.png'))) rmSync(join(OUT, f));

  const runDir = tempDir('ui-results');
  const dataDir = join(runDir, 'broker');
  const userDataDir = join(runDir, 'user-data');
  const extensionsDir = join(runDir, 'extensions');
  const workspace = join(runDir, 'workspace');
  mkdirSync(join(workspace, 'src'), { recursive: true });
  writeFileSync(join(workspace, 'src', 'answer.ts'), SOURCE);
  writeFileSync(join(workspace, 'notes.md'), '# Notes\n\nhi\n');

  let browser: Browser | undefined;
  let page: Page | undefined;
  const step = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    try {
      const result = await body();
      await page?.screenshot({ path: join(OUT, `results-${name}.png`) });
      console.log(`  ui step results-${name}: ${Date.now() - started} ms`);
      return result;
    } catch (err) {
      await page?.screenshot({ path: join(OUT, `results-${name}-FAILED.png`) }).catch(() => undefined);
      throw new Error(`UI step ${name} failed: ${(err as Error).message}\nscreenshot: test-output/ui/results-${name}-FAILED.png; logs: test-output/ui/results-logs/`);
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
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, locale: 'en-US' });
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    const wb = new Workbench(page);
    const panel = wb.webview.locator('#app');
    const tab = (text: string | RegExp) => page!.locator('.tabs-container .tab', { hasText: text });

    await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}`);
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
    await page.locator('.activitybar [aria-label^="VaultysClaw"]').first().click();
    await waitFor('the status bar to say the broker is connected', async () => /connected to local broker as results-user \(owner\)/.test(await wb.statusLabel()), 60_000, 200);
    const broker = await BrokerClient.connect(dataDir);
    cleanups.push(() => broker.close());
    const brokerDid = (JSON.parse(brokerCli('identity', '--data-dir', dataDir, '--json')) as { did: string }).did;
    const agent: AgentProcess = await startAgent({ brokerUrl: `ws://127.0.0.1:${hubPort}`, brokerDid, workspace, name: AGENT_NAME, request: 'read_file,list_files,run_command' });
    cleanups.push(() => agent.kill());
    await waitFor('the registration', async () => (await broker.call('agentsGet', { did: agent.did }).catch(() => undefined))?.status === 'pending', STEP_MS, 200);
    await broker.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['read_file', 'list_files', 'run_command'] } });
    await waitFor('the agent online', async () => (await broker.call('agentsGet', { did: agent.did })).online, STEP_MS, 200);
    await waitText('the agent under Online', wb.pane('Agents'), /Online[\s\S]*results-agent/);

    const dispatch = async (capability: string, answers: (string | null)[]) => {
      await wb.clearNotifications();
      await wb.command('VaultysClaw: Dispatch Intent');
      await wb.picker('Dispatch an intent to');
      await wb.choose(AGENT_NAME);
      await wb.picker(`Dispatch to ${AGENT_NAME}`);
      await wb.choose(capability);
      for (const [i, answer] of answers.entries()) {
        await wb.picker(`${capability} on ${AGENT_NAME} (${i + 1}/${answers.length})`);
        await wb.answer(answer);
      }
    };

    await step('read_file', async () => {
      await dispatch('read_file', ['src/answer.ts']);
      await wb.notification(/read_file on results-agent succeeded/);
      // The file as a read-only document, with its language (TypeScript, from the name), not a JSON string.
      const docTab = tab('answer.ts');
      await docTab.waitFor({ state: 'visible', timeout: STEP_MS });
      const lines = page!.locator('.editor-group-container', { has: docTab }).locator('.editor-instance .monaco-editor .view-lines');
      const shown = await waitText('the file in an editor', lines, /export const answer: number = 42;[\s\S]*\/\/ "quoted", not escaped/);
      assert.doesNotMatch(shown, /\\n|\\"/, 'no JSON escapes');
      await waitText('the language mode', page!.locator('[id="status.editor.mode"]'), /TypeScript/);
      assert.equal(await page!.locator('.tabs-container .tab', { hasText: /\.json/ }).count(), 0, 'no JSON tab');
    });

    await step('list_files', async () => {
      await dispatch('list_files', [null]);
      await wb.notification(/list_files on results-agent succeeded/);
      await waitText('the title', panel.locator('h1'), /^list_files \.$/);
      const table = await waitText('the table', panel.locator('table'), /Name\s+Type\s+Size[\s\S]*notes\.md\s+file\s+12 B[\s\S]*src\s+directory/);
      assert.match(table, /\d+ entries in \./);
      assert.match(await textOf(panel.locator('.sub').first()), /succeeded · on results-agent · asked by results-user · started (\d+ seconds? ago|now) \(/);
      // One result view, reused: the read_file's panel became this one.
      assert.equal(await tab(/^read_file src/).count(), 0, 'no second result tab');
      assert.equal(await tab(/^list_files \./).count(), 1);
    });

    await step('run_command', async () => {
      await dispatch('run_command', ['sh', JSON.stringify(['-c', SCRIPT]), null, null]);
      // Streamed: the first line shows while the command still runs.
      await waitText('the first line, live', panel.locator('#stdout'), /line 1/);
      assert.equal(await textOf(panel.locator('#exit')), 'still running…', 'seen before the command ended');
      await page!.screenshot({ path: join(OUT, 'results-run_command-live.png') });
      await wb.notification(/run_command on results-agent succeeded/);
      await waitText('the exit code', panel.locator('#exit'), /^exit code 3$/);
      assert.match(await textOf(panel.locator('#stdout')), /^line 1\nline 2\nline 3\n?$/);
      assert.match(await textOf(panel.locator('#stderr')), /^oops\n?$/);
      assert.match(await textOf(panel.locator('#duration')), /^\d+(\.\d)? s$/);
      assert.match(await textOf(panel.locator('dl')), /Command\s+sh -c 'for i in 1 2 3; do echo line \$i; sleep 2; done; echo oops >&2; exit 3'/);
      // Wrapped, not one long line behind a scrollbar.
      assert.equal(await panel.locator('#stdout').evaluate((e) => (globalThis as unknown as Styled).getComputedStyle(e).whiteSpace), 'pre-wrap');
    });

    await step('verify', async () => {
      await panel.locator('vscode-button[aria-label^="Verify"]').click();
      await waitText('the intent verdict', panel, /Signed intent: holds\. The signed intent holds: signed by did:vaultys:/);
      await waitText('the result verdict', panel, new RegExp(`Signed result: holds\\. The signed result holds: signed by ${agent.did}`));
    });

    await step('envelope', async () => {
      await panel.locator('vscode-button[aria-label^="Show the signed"]').click();
      const envTab = tab('signed-run_command.json');
      await envTab.waitFor({ state: 'visible', timeout: STEP_MS });
      const lines = page!.locator('.editor-group-container', { has: envTab }).locator('.editor-instance .monaco-editor .view-lines');
      await waitText('the decoded envelopes', lines, /"ctx": "vaultysclaw\/intent\/v1"[\s\S]*"capability": "run_command"/);
    });

    await step('dark', async () => {
      // As a person's settings.json changes it (the theme picker's first row is the Marketplace's).
      writeUserSettings(userDataDir, { ...settings, 'workbench.colorTheme': 'Default Dark Modern' });
      await waitFor('the dark theme', async () => /vs-dark/.test((await page!.locator('.monaco-workbench').getAttribute('class')) ?? ''), STEP_MS, 200);
      // Back to the command from the Activity view: the same one result view, in the theme's colours.
      await wb.clickRow('Activity', 'run_command sh');
      await waitText('the command again', panel.locator('#exit'), /^exit code 3$/);
      const [r, g, b] = (await panel.evaluate((app) => (globalThis as unknown as Styled).getComputedStyle((app as unknown as { ownerDocument: { body: unknown } }).ownerDocument.body).backgroundColor)).match(/\d+/g)!.map(Number);
      assert.ok(r! + g! + b! < 200, `a dark background from the theme's variables (${r}, ${g}, ${b})`);
      assert.equal(await tab(/^run_command sh/).count(), 1);
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
