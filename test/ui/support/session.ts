// One real-workbench session, as every test/ui/*.e2e file sets it up (../shared/design/testing.md, layer 3): the
// packaged .vsix installed into a fresh code-server whose extension runs its own local broker, Chromium driving
// the workbench, a screenshot per step, and the second people of a flow (teammates on the team WebSocket, their
// CLI dispatches in the background). Everything it starts is stopped by pid in close(), and the logs a failure
// needs are copied out. VAULTYSCLAW_UI_KEEP=1 keeps the run folder (data directories, user data, logs).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { BrokerClient } from '../../../broker/cli/broker-client';
import type { PolicyInput } from '../../../core/rpc/views';
import { brokerCli, codeServerOrFail, copyExtensionLogs, freePort, installExtension, launchChromium, startCodeServer, writeUserSettings, type CodeServer } from '../../support/code-server';
import { ROOT, startAgent, tempDir, waitFor, type AgentProcess } from '../../support/processes';
import { cachedVsix } from './vsix';
import { STEP_MS, waitText, Workbench } from './workbench';

const DIST = join(ROOT, 'dist');
export const UI_OUT = join(ROOT, 'test-output', 'ui');

export interface SessionOptions {
  /** Names the run folder (vc-<name>-…). */
  name: string;
  /** Screenshots: `<dir>/<prefix>NN-<step>.png` (numbered) or `<dir>/<prefix><step>.png`; this file's old ones are removed first. */
  shots: { dir?: string; prefix: string; numbered: boolean };
  /** Where the extension's, code-server's and the browser's logs are copied at the end. */
  logs: string;
  /** The workbench user, the local broker's owner. */
  userName: string;
  /** Workbench settings beside the extension's own (broker mode, data folder, hub port, Node, user name). */
  settings?: Record<string, unknown>;
  /** Files of the workspace folder (also the agent's workspace), by relative path. */
  files?: Record<string, string>;
  viewport?: { width: number; height: number };
  locale?: string;
}

/** A CLI dispatch by a teammate, running in the background while the workbench reviews it. */
export interface BackgroundDispatch {
  child: ChildProcess;
  output: string[];
  exit: Promise<number | null>;
  /** Its exit code, or 'timeout' when it is still running after `ms`. */
  exitWithin(ms: number): Promise<number | null | 'timeout'>;
  /** Its last output's JSON document (the intent as the CLI prints it). */
  result<T>(): T;
}

export interface Teammate {
  did: string;
  key: string;
  /** The CLI arguments that reach the broker as this person over the team WebSocket. */
  remote: string[];
}

export class UiSession {
  readonly page: Page;
  readonly wb: Workbench;
  readonly consoleLines: string[] = [];
  private readonly cleanups: (() => Promise<void> | void)[] = [];
  private stepNo = 0;
  private client?: { broker: BrokerClient; brokerDid: string };

  private constructor(
    private readonly o: SessionOptions,
    readonly dirs: { run: string; data: string; userData: string; extensions: string; workspace: string },
    readonly hubPort: number,
    private readonly settings: Record<string, unknown>,
    readonly server: CodeServer,
    readonly browser: Browser,
    page: Page,
  ) {
    this.page = page;
    this.wb = new Workbench(page);
  }

  /** Packages (once per content, test/ui/support/vsix.ts), installs, starts code-server and Chromium; nothing is open yet. */
  static async start(o: SessionOptions): Promise<UiSession> {
    codeServerOrFail();
    const shotDir = o.shots.dir ?? UI_OUT;
    mkdirSync(shotDir, { recursive: true });
    const own = new RegExp(`^${o.shots.prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${o.shots.numbered ? '\\d{2}-' : ''}.*\\.png$`);
    for (const f of readdirSync(shotDir).filter((f) => own.test(f))) rmSync(join(shotDir, f));
    rmSync(o.logs, { recursive: true, force: true });
    mkdirSync(o.logs, { recursive: true });

    const run = tempDir(o.name);
    const dirs = { run, data: join(run, 'broker'), userData: join(run, 'user-data'), extensions: join(run, 'extensions'), workspace: join(run, 'workspace') };
    mkdirSync(dirs.workspace, { recursive: true });
    for (const [path, text] of Object.entries(o.files ?? {})) {
      mkdirSync(dirname(join(dirs.workspace, path)), { recursive: true });
      writeFileSync(join(dirs.workspace, path), text);
    }
    const started: (() => Promise<void> | void)[] = [];
    try {
      const hubPort = await freePort();
      const { vsix, packagedMs } = cachedVsix();
      console.log(`  ui: .vsix ${packagedMs === null ? 'reused from the cache' : `packaged in ${packagedMs} ms`}`);
      installExtension({ runDir: run, userDataDir: dirs.userData, extensionsDir: dirs.extensions, vsix });
      assert.ok(readdirSync(dirs.extensions).some((d) => d.startsWith('vaultysclaw.vaultysclaw-')), "the .vsix installed into the run's extensions folder");
      const settings = {
        'vaultysclaw.brokerMode': 'local',
        'vaultysclaw.dataDir': dirs.data,
        'vaultysclaw.hubPort': hubPort,
        'vaultysclaw.nodePath': process.execPath,
        'vaultysclaw.userName': o.userName,
        ...o.settings,
      };
      writeUserSettings(dirs.userData, settings);
      const server = await startCodeServer({ runDir: run, userDataDir: dirs.userData, extensionsDir: dirs.extensions, workspace: dirs.workspace });
      started.push(() => server.stop());
      const browser = await launchChromium(run);
      started.push(() => browser.close());
      const page = await browser.newPage({ viewport: o.viewport ?? { width: 1600, height: 1000 }, ...(o.locale ? { locale: o.locale } : {}) });
      const session = new UiSession(o, dirs, hubPort, settings, server, browser, page);
      session.cleanups.push(...started);
      page.on('console', (m) => session.consoleLines.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => session.consoleLines.push(`[pageerror] ${e.message}`));
      return session;
    } catch (err) {
      for (const stop of started.reverse()) await Promise.resolve(stop()).catch(() => undefined);
      if (!process.env.VAULTYSCLAW_UI_KEEP) rmSync(run, { recursive: true, force: true });
      throw err;
    }
  }

  get workspace(): string {
    return this.dirs.workspace;
  }

  get dataDir(): string {
    return this.dirs.data;
  }

  get userDataDir(): string {
    return this.dirs.userData;
  }

  /** Runs `fn` at close(), before the ones deferred earlier (processes started later stop first). */
  defer(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  private shotPath(name: string): string {
    return join(this.o.shots.dir ?? UI_OUT, `${name}.png`);
  }

  /** A screenshot of the page as it is, beside the steps' own. */
  async shot(name: string): Promise<void> {
    await this.page.screenshot({ path: this.shotPath(name) });
  }

  /** One step of the flow: its screenshot when it passed, a -FAILED one and where to look when it did not. */
  async step<T>(name: string, body: () => Promise<T>): Promise<T> {
    this.stepNo += 1;
    const file = `${this.o.shots.prefix}${this.o.shots.numbered ? `${String(this.stepNo).padStart(2, '0')}-` : ''}${name}`;
    const started = Date.now();
    try {
      const result = await body();
      await this.shot(file);
      console.log(`  ui step ${file}: ${Date.now() - started} ms`);
      return result;
    } catch (err) {
      await this.shot(`${file}-FAILED`).catch(() => undefined);
      throw new Error(`UI step ${this.stepNo} (${name}) failed: ${(err as Error).message}\nscreenshot: ${relative(ROOT, this.shotPath(`${file}-FAILED`))}; logs: ${relative(ROOT, this.o.logs)}/`);
    }
  }

  /** The workbench on the run's folder, up to the VaultysClaw entry in the activity bar. */
  async load(): Promise<void> {
    await this.page.goto(`${this.server.url}/?folder=${encodeURIComponent(this.dirs.workspace)}`);
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
    await this.page.locator('.activitybar [aria-label^="VaultysClaw"]').first().waitFor({ state: 'visible', timeout: STEP_MS });
  }

  /** Clicks the shield: the extension activates, starts its broker and proves the user's key as its owner. */
  async openVaultysClaw(): Promise<void> {
    await this.page.locator('.activitybar [aria-label^="VaultysClaw"]').first().click();
    const connected = new RegExp(`connected to local broker as ${this.o.userName} \\(owner\\)`);
    await waitFor('the status bar to say the broker is connected', async () => connected.test(await this.wb.statusLabel()), 60_000, 200);
  }

  /** The broker behind the workbench, as its host's operator (its local socket), and its DID. */
  async broker(): Promise<{ broker: BrokerClient; brokerDid: string }> {
    if (!this.client) {
      const broker = await BrokerClient.connect(this.dirs.data);
      this.defer(() => broker.close());
      const brokerDid = (JSON.parse(brokerCli('identity', '--data-dir', this.dirs.data, '--json')) as { did: string }).did;
      this.client = { broker, brokerDid };
    }
    return this.client;
  }

  /** A real agent process pinned to the broker, on the hub port of the settings; stopped at close(). */
  async startAgent(name: string, request: string, options: { workspace?: string; stateDir?: string } = {}): Promise<AgentProcess> {
    const { brokerDid } = await this.broker();
    const agent = await startAgent({ brokerUrl: `ws://127.0.0.1:${this.hubPort}`, brokerDid, workspace: options.workspace ?? this.dirs.workspace, name, request, ...(options.stateDir ? { stateDir: options.stateDir } : {}) });
    this.defer(() => agent.kill());
    return agent;
  }

  /** Set-up outside the steps under test: an agent approved through the broker, online and shown under Online. */
  async approvedAgent(name: string, policy: PolicyInput): Promise<AgentProcess> {
    const { broker } = await this.broker();
    const agent = await this.startAgent(name, policy.capabilities.join(','));
    await waitFor('the registration', async () => (await broker.call('agentsGet', { did: agent.did }).catch(() => undefined))?.status === 'pending', STEP_MS, 200);
    await broker.call('registrationsApprove', { did: agent.did, policy });
    await waitFor('the agent online', async () => (await broker.call('agentsGet', { did: agent.did })).online, STEP_MS, 200);
    await waitText('the agent under Online', this.wb.pane('Agents'), new RegExp(`Online[\\s\\S]*${name}`));
    return agent;
  }

  /**
   * A second person: invited with `role`, joined over the team WebSocket with a key of their own (the CLI), the
   * token from a 0600 file, never the command line (where any local user reads it); granted `grant` when given.
   */
  async teammate(name: string, role: string, grant?: { agent: string; capabilities: string }): Promise<Teammate> {
    const { brokerDid } = await this.broker();
    const key = join(this.dirs.run, `${name}.key`);
    const did = brokerCli('keygen', key).trim();
    const remote = ['--url', `ws://127.0.0.1:${this.hubPort}`, '--broker-did', brokerDid, '--key', key, '--name', name];
    const tokenFile = join(this.dirs.run, `${name}.invitation`);
    writeFileSync(tokenFile, brokerCli('invite', '--data-dir', this.dirs.data, '--role', role, '--token-only').trim(), { mode: 0o600 });
    brokerCli('join', ...remote, '--invitation-file', tokenFile);
    if (grant) brokerCli('grant', did, '--agent', grant.agent, '--capabilities', grant.capabilities, '--data-dir', this.dirs.data);
    return { did, key, remote };
  }

  /** A teammate's `dispatch` through the broker CLI, as a person at another machine sends it; it may wait for a review. */
  dispatchAs(who: Teammate, agent: string, capability: string, params: Record<string, unknown>): BackgroundDispatch {
    const output: string[] = [];
    const child = spawn(process.execPath, [join(DIST, 'broker.js'), 'dispatch', ...who.remote, agent, capability, JSON.stringify(params), '--timeout', '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.defer(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    child.stdout!.setEncoding('utf8').on('data', (c: string) => output.push(c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => output.push(c));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return {
      child,
      output,
      exit,
      async exitWithin(ms) {
        let timer: NodeJS.Timeout | undefined;
        const code = await Promise.race([exit, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
        clearTimeout(timer);
        return code;
      },
      result<T>() {
        const text = output.join('');
        return JSON.parse(text.slice(text.indexOf('{'))) as T;
      },
    };
  }

  /** Waits for the broker to hold a pending approval, failing at once if the dispatch that should pause ended first. */
  async pendingApproval(dispatch: BackgroundDispatch, what: string) {
    const { broker } = await this.broker();
    return waitFor(what, async () => {
      if (dispatch.child.exitCode !== null) throw new Error(`the dispatch ended before any review (${dispatch.child.exitCode}):\n${dispatch.output.join('')}`);
      return (await broker.call('approvalsList', { state: 'pending' })).items[0];
    }, STEP_MS, 200);
  }

  /** The theme as a person's settings.json changes it (the theme picker's first row is the Marketplace's). */
  async setTheme(id: string, workbenchClass: RegExp): Promise<void> {
    writeUserSettings(this.dirs.userData, { ...this.settings, 'workbench.colorTheme': id });
    await waitFor(`the ${id} theme`, async () => workbenchClass.test((await this.page.locator('.monaco-workbench').getAttribute('class')) ?? ''), STEP_MS, 200);
  }

  /** What the webviews' strict CSP blocked (nonce'd script, no inline style but the nonce'd block): nothing, in a passing run. */
  cspViolations(): string[] {
    return this.consoleLines.filter((l) => /Content Security Policy|Refused to (load|execute|apply|connect)/.test(l));
  }

  /** Stops everything started, newest first, and copies the logs out; the run folder goes unless kept. */
  async close(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    copyExtensionLogs(this.dirs.userData, this.o.logs);
    writeFileSync(join(this.o.logs, 'code-server.log'), this.server.output.join(''));
    writeFileSync(join(this.o.logs, 'browser-console.log'), `${this.consoleLines.join('\n')}\n`);
    if (process.env.VAULTYSCLAW_UI_KEEP) console.log(`  ui run folder kept: ${this.dirs.run}`);
    else rmSync(this.dirs.run, { recursive: true, force: true });
  }
}
