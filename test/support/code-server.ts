// The real workbench for the UI tests (../shared/design/testing.md, layers 3 and 4): code-server 4.100.3
// (VS Code 1.100.3 served to a browser) and Debian's Chromium under playwright-core. Both tests fail, never
// skip, when either is missing. VAULTYSCLAW_CODE_SERVER / VAULTYSCLAW_CHROMIUM override the two paths.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { freePort } from './free-port';
import { ROOT, waitFor } from './processes';

export const CODE_SERVER = process.env.VAULTYSCLAW_CODE_SERVER ?? join(ROOT, '.code-server', 'node_modules', '.bin', 'code-server');
export const CHROMIUM = process.env.VAULTYSCLAW_CHROMIUM ?? '/usr/bin/chromium';
const CODE_SERVER_VERSION = '4.100.3';
const DIST = join(ROOT, 'dist');

export { freePort };

export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  const r = spawnSync(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, encoding: 'utf8', timeout: options.timeoutMs ?? 60_000 });
  if (r.status !== 0) throw new Error(`${basename(command)} ${args.slice(0, 3).join(' ')} … exited with ${r.status ?? r.signal}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** The broker CLI from dist/, bounded in time. */
export const brokerCli = (...args: string[]) => run(process.execPath, [join(DIST, 'broker.js'), ...args], { timeoutMs: 30_000 });

function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true })) {
    const path = join(dir, String(f));
    if (/\.(ts|css|svg|md)$/.test(path)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Rebuilds dist/ when any source is newer than these bundles (a UI test run on its own after an edit);
 * under `npm test` it has just been built and is left alone, so no other test sees dist/ rewritten.
 */
export function ensureBuilt(bundles: string[], sourceDirs: string[]): void {
  const paths = bundles.map((f) => join(DIST, f));
  const built = paths.every(existsSync) ? Math.min(...paths.map((f) => statSync(f).mtimeMs)) : 0;
  const sources = Math.max(...sourceDirs.map((d) => newestMtime(join(ROOT, d))), statSync(join(ROOT, 'package.json')).mtimeMs);
  if (built < sources) run(process.execPath, ['esbuild.mjs'], { timeoutMs: 120_000 });
}

export function codeServerOrFail(): void {
  const install = 'run scripts/code-server/install.sh (apt: chromium ripgrep libkrb5-dev; code-server into .code-server/)';
  if (!existsSync(CODE_SERVER)) assert.fail(`code-server is not installed at ${CODE_SERVER}: ${install}`);
  if (!existsSync(CHROMIUM)) assert.fail(`Chromium is not installed at ${CHROMIUM}: ${install}`);
  const version = spawnSync(CODE_SERVER, ['--config', '/dev/null', '--version'], { encoding: 'utf8', timeout: 30_000 }).stdout ?? '';
  if (!version.split('\n').some((l) => l.startsWith(`${CODE_SERVER_VERSION} `))) assert.fail(`code-server ${CODE_SERVER_VERSION} is needed, found "${version.trim()}": ${install}`);
}

/** Stops a detached process group: SIGTERM, then SIGKILL if anything in it is still alive after 5 s. */
export async function killGroup(pid: number): Promise<void> {
  const alive = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(-pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(-pid, 'SIGKILL');
}

/** Without a config file of its own, code-server writes a default one (with a password) into ~/.config. */
export function codeServerConfig(runDir: string): string {
  const config = join(runDir, 'code-server.yaml');
  if (!existsSync(config)) writeFileSync(config, 'auth: none\n');
  return config;
}

/** What every run needs beside its own folders: no marketplace, sockets in the run folder. */
function codeServerEnv(runDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const tmp = join(runDir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  return { ...process.env, TMPDIR: tmp, EXTENSIONS_GALLERY: '{}', ...extra };
}

export function installExtension(o: { runDir: string; userDataDir: string; extensionsDir: string; vsix: string }): void {
  run(CODE_SERVER, ['--config', codeServerConfig(o.runDir), '--user-data-dir', o.userDataDir, '--extensions-dir', o.extensionsDir, '--install-extension', o.vsix], {
    env: codeServerEnv(o.runDir),
  });
}

export interface CodeServer {
  url: string;
  child: ChildProcess;
  output: string[];
  /** Stops the server's whole process group (extension host, the extension's broker, language servers). */
  stop(): Promise<void>;
}

export async function startCodeServer(o: { runDir: string; userDataDir: string; extensionsDir: string; workspace: string; env?: NodeJS.ProcessEnv }): Promise<CodeServer> {
  const port = await freePort();
  const child = spawn(
    CODE_SERVER,
    [
      '--config', codeServerConfig(o.runDir), '--user-data-dir', o.userDataDir, '--extensions-dir', o.extensionsDir,
      '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none', '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust',
      o.workspace,
    ],
    // Its own process group, so everything it starts is stopped with it.
    { env: codeServerEnv(o.runDir, o.env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stop = () => killGroup(child.pid!);
  const output: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => output.push(chunk));
  }
  try {
    await waitFor(
      'code-server to listen',
      () => {
        if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}:\n${output.join('')}`);
        return output.join('').includes('HTTP server listening on');
      },
      30_000,
      100,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `http://127.0.0.1:${port}`, child, output, stop };
}

/** Headless Chromium as testing.md describes, its crash-report and cache folders in the run folder. */
export function launchChromium(runDir: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    env: { ...process.env, XDG_CONFIG_HOME: join(runDir, 'xdg-config'), XDG_CACHE_HOME: join(runDir, 'xdg-cache') },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * The settings of a run: a quiet workbench plus the given ones. The given ones go in the Machine
 * (remote) settings too: code-server is a remote workbench, and once the person changes any setting it
 * drops machine-scoped settings (all of ours but the staleness window) found in the User file.
 */
export function writeUserSettings(userDataDir: string, settings: Record<string, unknown>): void {
  const quiet = {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'extensions.ignoreRecommendations': true,
    'telemetry.telemetryLevel': 'off',
    'git.enabled': false,
    'security.workspace.trust.enabled': false,
  };
  for (const [scope, values] of [['User', { ...settings, ...quiet }], ['Machine', settings]] as const) {
    mkdirSync(join(userDataDir, scope), { recursive: true });
    writeFileSync(join(userDataDir, scope, 'settings.json'), `${JSON.stringify(values, null, 2)}\n`);
  }
}

/** The extension's own logs (client and broker) from a run's user data, for whoever reads a failure. */
export function copyExtensionLogs(userDataDir: string, into: string): string[] {
  const logs = join(userDataDir, 'logs');
  const copied: string[] = [];
  if (!existsSync(logs)) return copied;
  mkdirSync(into, { recursive: true });
  for (const f of readdirSync(logs, { recursive: true }).map(String)) {
    if (!f.includes('vaultysclaw.vaultysclaw') || !f.endsWith('.log')) continue;
    const target = join(into, basename(f).replace(/ /g, '-'));
    copyFileSync(join(logs, f), target);
    copied.push(target);
  }
  return copied;
}
