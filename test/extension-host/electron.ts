// The same extension-host suite under @vscode/test-electron, for machines that can download VS Code
// (`npm run test:electron`; it cannot run on the project's CI machines, which reach only npm and apt:
// there test/ui/extension-host.e2e.test.ts runs it in code-server). VS Code 1.100.0 by default, the oldest
// engines.vscode accepts; VAULTYSCLAW_VSCODE_VERSION picks another ("stable", "insiders", "1.101.0" …).
// The outcome is the suite's results file, and VS Code's exit code must agree with it.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { ROOT, tempDir } from '../support/processes';
import { prepareRun } from './prepare-run';
import { readResults, RUN_CONFIG_ENV, SUITE_ENTRY, verdict } from './run-config';

async function main(): Promise<number> {
  const runDir = tempDir('electron');
  const config = await prepareRun(runDir);
  try {
    const code = await runTests({
      version: process.env.VAULTYSCLAW_VSCODE_VERSION ?? '1.100.0',
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: SUITE_ENTRY,
      extensionTestsEnv: { [RUN_CONFIG_ENV]: JSON.stringify(config) },
      launchArgs: [config.workspace, '--user-data-dir', config.userDataDir, '--extensions-dir', join(runDir, 'extensions'), '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
    }).catch((err: unknown) => {
      console.error(`VS Code did not run the suite: ${(err as Error).message}`);
      return 1;
    });
    const { ok, summary } = verdict(readResults(config.resultsFile));
    console.log(summary);
    return ok && code === 0 ? 0 : 1;
  } finally {
    if (!process.env.VAULTYSCLAW_UI_KEEP) rmSync(runDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`The extension-host run failed before VS Code started: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
