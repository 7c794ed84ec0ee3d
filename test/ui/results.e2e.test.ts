// Issue 17, "results you can read", in a real workbench (../shared/design/testing.md, layer 3): the packaged .vsix
// in code-server, driven by Chromium, with the extension's own local broker and a real agent. The user dispatches
// read_file, list_files and run_command from the palette and reads each in the one reused result view: the file as
// a read-only TypeScript document, the listing as a table, the command's stdout and stderr as text (streamed while
// it runs), its exit code and duration; then Verify and Show Signed Envelope; then the same view in a dark theme,
// High Contrast and High Contrast Light, every text of it readable there (test/ui/support/contrast.ts).
// Screenshots: test-output/ui/results-<tool>.png, results-verify.png, results-envelope.png, results-dark.png,
// hc-result-dark.png, hc-result-light.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { highContrastCheck } from './support/contrast';
import { UI_OUT, UiSession } from './support/session';
import { STEP_MS, textOf, waitText } from './support/workbench';

const USER_NAME = 'results-user';
const AGENT_NAME = 'results-agent';
const SOURCE = 'export const answer: number = 42;\n// "quoted", not escaped\n';
const SCRIPT = 'for i in 1 2 3; do echo line $i; sleep 2; done; echo oops >&2; exit 3';

/** What evaluate() sees inside the webview (this file compiles without the DOM's types; the function is sent as text). */
type Styled = { getComputedStyle(e: unknown): { whiteSpace: string; backgroundColor: string } };

test('results in a real workbench: read_file, list_files and run_command in the one result view, Verify, the envelope, dark and high-contrast themes', { timeout: 240_000 }, async () => {
  const ui = await UiSession.start({
    name: 'ui-results',
    shots: { prefix: 'results-', numbered: false },
    logs: join(UI_OUT, 'results-logs'),
    userName: USER_NAME,
    settings: { 'workbench.colorTheme': 'Default Light Modern' },
    files: { 'src/answer.ts': SOURCE, 'notes.md': '# Notes\n\nhi\n' },
    locale: 'en-US',
  });
  const { page, wb } = ui;
  try {
    const panel = wb.webview.locator('#app');
    const tab = (text: string | RegExp) => page.locator('.tabs-container .tab', { hasText: text });

    await ui.load();
    await ui.openVaultysClaw();
    const agent = await ui.approvedAgent(AGENT_NAME, { capabilities: ['read_file', 'list_files', 'run_command'] });

    const dispatch = async (capability: string, answers: (string | null)[]) => {
      await wb.clearNotifications();
      await wb.dispatch(AGENT_NAME, capability, answers);
    };

    await ui.step('read_file', async () => {
      await dispatch('read_file', ['src/answer.ts']);
      await wb.notification(/read_file on results-agent succeeded/);
      // The file as a read-only document, with its language (TypeScript, from the name), not a JSON string.
      const docTab = tab('answer.ts');
      await docTab.waitFor({ state: 'visible', timeout: STEP_MS });
      const lines = page.locator('.editor-group-container', { has: docTab }).locator('.editor-instance .monaco-editor .view-lines');
      const shown = await waitText('the file in an editor', lines, /export const answer: number = 42;[\s\S]*\/\/ "quoted", not escaped/);
      assert.doesNotMatch(shown, /\\n|\\"/, 'no JSON escapes');
      await waitText('the language mode', page.locator('[id="status.editor.mode"]'), /TypeScript/);
      assert.equal(await page.locator('.tabs-container .tab', { hasText: /\.json/ }).count(), 0, 'no JSON tab');
    });

    await ui.step('list_files', async () => {
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

    await ui.step('run_command', async () => {
      await dispatch('run_command', ['sh', JSON.stringify(['-c', SCRIPT]), null, null]);
      // Streamed: the first line shows while the command still runs.
      await waitText('the first line, live', panel.locator('#stdout'), /line 1/);
      assert.equal(await textOf(panel.locator('#exit')), 'still running…', 'seen before the command ended');
      await ui.shot('results-run_command-live');
      await wb.notification(/run_command on results-agent succeeded/);
      await waitText('the exit code', panel.locator('#exit'), /^exit code 3$/);
      assert.match(await textOf(panel.locator('#stdout')), /^line 1\nline 2\nline 3\n?$/);
      assert.match(await textOf(panel.locator('#stderr')), /^oops\n?$/);
      assert.match(await textOf(panel.locator('#duration')), /^\d+(\.\d)? s$/);
      assert.match(await textOf(panel.locator('dl')), /Command\s+sh -c 'for i in 1 2 3; do echo line \$i; sleep 2; done; echo oops >&2; exit 3'/);
      // Wrapped, not one long line behind a scrollbar.
      assert.equal(await panel.locator('#stdout').evaluate((e) => (globalThis as unknown as Styled).getComputedStyle(e).whiteSpace), 'pre-wrap');
    });

    await ui.step('verify', async () => {
      await panel.locator('vscode-button[aria-label^="Verify"]').click();
      await waitText('the intent verdict', panel, /Signed intent: holds\. The signed intent holds: signed by did:vaultys:/);
      await waitText('the result verdict', panel, new RegExp(`Signed result: holds\\. The signed result holds: signed by ${agent.did}`));
    });

    await ui.step('envelope', async () => {
      await panel.locator('vscode-button[aria-label^="Show the signed"]').click();
      const envTab = tab('signed-run_command.json');
      await envTab.waitFor({ state: 'visible', timeout: STEP_MS });
      const lines = page.locator('.editor-group-container', { has: envTab }).locator('.editor-instance .monaco-editor .view-lines');
      await waitText('the decoded envelopes', lines, /"ctx": "vaultysclaw\/intent\/v1"[\s\S]*"capability": "run_command"/);
    });

    await ui.step('dark', async () => {
      await ui.setTheme('Default Dark Modern', /vs-dark/);
      // Back to the command from the Activity view: the same one result view, in the theme's colours.
      await wb.clickRow('Activity', 'run_command sh');
      await waitText('the command again', panel.locator('#exit'), /^exit code 3$/);
      const [r, g, b] = (await panel.evaluate((app) => (globalThis as unknown as Styled).getComputedStyle((app as unknown as { ownerDocument: { body: unknown } }).ownerDocument.body).backgroundColor)).match(/\d+/g)!.map(Number);
      assert.ok(r! + g! + b! < 200, `a dark background from the theme's variables (${r}, ${g}, ${b})`);
      assert.equal(await tab(/^run_command sh/).count(), 1);
      assert.deepEqual(ui.cspViolations(), []);
    });

    // High Contrast (dark) and High Contrast Light: every text of the result view readable against what is behind it.
    for (const [id, cls, name] of [['Default High Contrast', /\bhc-black\b/, 'dark'], ['Default High Contrast Light', /\bhc-light\b/, 'light']] as const) {
      await ui.step(`high-contrast-${name}`, async () => {
        await ui.setTheme(id, cls);
        await waitText('the command again', panel.locator('#exit'), /^exit code 3$/);
        await highContrastCheck(wb.webview, 'h1', `the result view in ${id}`);
        await ui.shot(`hc-result-${name}`);
      });
    }
  } finally {
    await ui.close();
  }
});
