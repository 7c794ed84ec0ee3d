// What the extension-host suite needs to know about its run, handed from a runner (code-server or
// @vscode/test-electron) to the suite inside the extension host through one environment variable: the
// extension host inherits the server's environment, and nothing else reaches it before the suite starts.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/processes';

export const RUN_CONFIG_ENV = 'VAULTYSCLAW_EXTENSION_HOST_RUN';
export const SUITE_ENTRY = join(ROOT, 'dist', 'test', 'extension-host-suite.js');
export const USER_NAME = 'host-suite-owner';

export interface RunConfig {
  /** Where the suite writes its results: the outcome the runner trusts (never the server's exit code). */
  resultsFile: string;
  /** The local broker's data directory, as the user settings name it. */
  dataDir: string;
  hubPort: number;
  /** Node for the broker, as the user settings name it (restored after the no-Node case). */
  nodePath: string;
  /** The folder the workbench opened, also the agent's workspace. */
  workspace: string;
  /** The workbench's user data, where the extension's log files are. */
  userDataDir: string;
}

export interface CaseResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

export interface SuiteResults {
  /** How many cases the suite has; a run that stopped early has fewer results. */
  total: number;
  results: CaseResult[];
  complete: boolean;
}

export function readRunConfig(env: NodeJS.ProcessEnv = process.env): RunConfig {
  const raw = env[RUN_CONFIG_ENV];
  if (!raw) throw new Error(`${RUN_CONFIG_ENV} is not set: run this suite through test/ui/extension-host.e2e.test.ts or npm run test:electron`);
  return JSON.parse(raw) as RunConfig;
}

/** The workbench settings for a run: the extension runs its own broker on the run's hub port and data folder. */
export function runSettings(config: RunConfig): Record<string, unknown> {
  return {
    'vaultysclaw.brokerMode': 'local',
    'vaultysclaw.dataDir': config.dataDir,
    'vaultysclaw.hubPort': config.hubPort,
    'vaultysclaw.nodePath': config.nodePath,
    'vaultysclaw.userName': USER_NAME,
  };
}

/** Written after every case (renamed into place), so a host that dies mid-run still leaves what it did. */
export function writeResults(file: string, results: SuiteResults): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function readResults(file: string): SuiteResults | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SuiteResults) : undefined;
}

/** What a runner asserts: every case ran and passed; the message lists the failures with their errors. */
export function verdict(results: SuiteResults | undefined): { ok: boolean; summary: string } {
  if (!results) return { ok: false, summary: 'the suite wrote no results file (it never started, or the extension host died first)' };
  const failed = results.results.filter((r) => !r.ok);
  const lines = results.results.map((r) => `  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} (${r.ms} ms)${r.ok ? '' : `\n       ${r.error?.split('\n').join('\n       ')}`}`);
  const ok = results.complete && results.results.length === results.total && failed.length === 0 && results.total > 0;
  const head = `${results.results.length - failed.length}/${results.total} extension-host cases passed${results.complete ? '' : ' (the run did not complete)'}`;
  return { ok, summary: [head, ...lines].join('\n') };
}
