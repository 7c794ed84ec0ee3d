// The extension-host suite (test/extension-host/suite.ts) in a real workbench (../shared/design/testing.md,
// layer 4, step 5): code-server 4.100.3 loads the extension from this checkout as extensionDevelopmentPath
// and the built suite as extensionTestsPath (its `payload`), and the extension host starts when Chromium
// opens the workbench. The outcome is taken twice, and both must agree: from the workbench's
// codeAutomationExit call and from the results file the suite writes (the server's own log says exit code 0
// even when a test fails, so it is never trusted). Fails, not skips, without code-server or Chromium.
// Logs and a final screenshot: test-output/extension-host/. VAULTYSCLAW_UI_KEEP=1 keeps the run folder.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { codeServerOrFail, copyExtensionLogs, ensureBuilt, launchChromium, startCodeServer, type CodeServer } from '../support/code-server';
import { ROOT, tempDir } from '../support/processes';
import { prepareRun } from '../extension-host/prepare-run';
import { readResults, RUN_CONFIG_ENV, SUITE_ENTRY, verdict } from '../extension-host/run-config';

const OUT = join(ROOT, 'test-output', 'extension-host');
const SUITE_MS = 360_000;

test('the extension-host suite passes inside a real workbench (code-server payload, Chromium)', { timeout: SUITE_MS + 60_000 }, async () => {
  codeServerOrFail();
  ensureBuilt(['broker.js', 'agent.js', 'extension.js', join('webviews', 'approval.js'), join('test', 'extension-host-suite.js')], ['core', 'broker', 'agent', 'extension', 'webviews', 'test']);
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });

  const runDir = tempDir('ext-host');
  const config = await prepareRun(runDir);

  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const consoleLines: string[] = [];
  try {
    server = await startCodeServer({
      runDir,
      userDataDir: config.userDataDir,
      extensionsDir: join(runDir, 'extensions'),
      workspace: config.workspace,
      env: { [RUN_CONFIG_ENV]: JSON.stringify(config) },
    });
    browser = await launchChromium(runDir);
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    let exited!: (code: number) => void;
    const exitCode = new Promise<number>((resolve) => (exited = resolve));
    await page.exposeFunction('codeAutomationExit', (code: number) => exited(code));

    const remote = (path: string) => `vscode-remote://${new URL(server!.url).host}${path}`;
    const payload = JSON.stringify([
      ['extensionDevelopmentPath', remote(ROOT)],
      ['extensionTestsPath', remote(SUITE_ENTRY)],
    ]);
    await page.goto(`${server.url}/?folder=${encodeURIComponent(config.workspace)}&payload=${encodeURIComponent(payload)}`);

    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exitCode, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), SUITE_MS)))]);
    clearTimeout(timer);
    await page.screenshot({ path: join(OUT, 'workbench-after-suite.png') }).catch(() => undefined);

    const results = readResults(config.resultsFile);
    const { ok, summary } = verdict(results);
    console.log(summary.split('\n').map((l) => `  ${l}`).join('\n'));
    assert.notEqual(code, 'timeout', `the workbench did not report the end of the suite within ${SUITE_MS / 1000} s\n${summary}`);
    assert.ok(ok, summary);
    assert.equal(code, 0, `the workbench reported exit code ${code} although the results file says every case passed:\n${summary}`);
  } finally {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    copyExtensionLogs(config.userDataDir, join(OUT, 'logs'));
    if (server) writeFileSync(join(OUT, 'code-server.log'), server.output.join(''));
    writeFileSync(join(OUT, 'browser-console.log'), `${consoleLines.join('\n')}\n`);
    if (process.env.VAULTYSCLAW_UI_KEEP) console.log(`  extension-host run folder kept: ${runDir}`);
    else rmSync(runDir, { recursive: true, force: true });
  }
});
