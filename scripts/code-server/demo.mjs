// The product in a browser, in one command: builds everything, packages the extension, installs it into a
// fresh code-server (VS Code 1.100.3 served to the browser), starts a local agent on a temporary workspace
// and prints the URL to open. The extension starts its own broker when you open VaultysClaw in the
// workbench; the agent (pinned to that broker's DID, created here beforehand) connects as soon as it is up
// and waits there as a pending registration for you to approve.
//
//   node scripts/code-server/demo.mjs [--port 8443]      # Ctrl-C stops everything
//
// Runs scripts/code-server/install.sh first when code-server is not installed (apt needs root or sudo).
// Everything lives in .vaultysclaw/workbench-demo/ (git-ignored), wiped at each start.
// `--smoke` checks that the workbench answers and the agent runs, then stops (for CI or a quick check).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { agentExitMessage } from '../agent-exit.mjs';
import { writeDemoEnv } from '../demo-env.mjs';
import { freePort } from '../free-port.mjs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = resolve(import.meta.dirname, '..', '..');
const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const portArg = args.indexOf('--port') >= 0 ? Number(args[args.indexOf('--port') + 1]) : Number(process.env.VAULTYSCLAW_DEMO_PORT ?? 8443);
const codeServer = process.env.VAULTYSCLAW_CODE_SERVER ?? join(root, '.code-server', 'node_modules', '.bin', 'code-server');
const demo = resolve(process.env.VAULTYSCLAW_WORKBENCH_DEMO_DIR ?? join(root, '.vaultysclaw', 'workbench-demo'));
const brokerDir = join(demo, 'broker');
const agentDir = join(demo, 'agent');
const workspace = join(demo, 'workspace');
const userData = join(demo, 'user-data');
const extensions = join(demo, 'extensions');
const logs = join(demo, 'logs');
const children = [];

const say = (text) => process.stdout.write(`${text}\n`);
function must(result, what) {
  if (result.error) throw new Error(`${what} failed: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${what} failed:\n${result.stderr || result.stdout}`);
  return result.stdout;
}
const node = (args, what) => must(spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 180_000 }), what);

/** code-server runs in its own process group (its extension host, the extension's broker, language servers). */
let stopping = false;
function stopAll() {
  stopping = true;
  for (const { child, group } of children.splice(0).reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      if (group) process.kill(-child.pid, 'SIGTERM');
      else child.kill('SIGTERM');
    } catch {
      // Already gone.
    }
  }
}

async function main() {
  const started = Date.now();
  // The demo agent confines its commands with bubblewrap: without it, run_command would be refused (sandbox-unavailable).
  const hasBwrap = spawnSync('sh', ['-c', 'command -v bwrap'], { stdio: 'ignore' }).status === 0;
  if (!existsSync(codeServer) || !hasBwrap) {
    say(`▸ ${hasBwrap ? 'code-server is' : 'bubblewrap (bwrap) is'} not installed: running scripts/code-server/install.sh`);
    must(spawnSync('bash', [join(root, 'scripts', 'code-server', 'install.sh')], { stdio: 'inherit' }), 'install.sh');
  }

  say('▸ building and packaging the extension');
  node([join(root, 'esbuild.mjs')], 'build');
  rmSync(demo, { recursive: true, force: true });
  for (const dir of [workspace, userData, extensions, logs, join(demo, 'tmp')]) mkdirSync(dir, { recursive: true });
  const vsix = join(demo, 'vaultysclaw.vsix');
  node([join(root, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-rewrite-relative-links', '--skip-license', '--allow-missing-repository', '--out', vsix], 'vsce package');

  const config = join(demo, 'code-server.yaml');
  writeFileSync(config, 'auth: none\n');
  const env = { ...process.env, TMPDIR: join(demo, 'tmp'), EXTENSIONS_GALLERY: '{}' };
  must(
    spawnSync(codeServer, ['--config', config, '--user-data-dir', userData, '--extensions-dir', extensions, '--install-extension', vsix], { env, encoding: 'utf8', timeout: 120_000 }),
    'installing the .vsix',
  );

  // The broker the extension will run: its identity is created now, so the agent can pin its DID before it starts.
  const hubPort = await freePort(0);
  mkdirSync(join(userData, 'User'), { recursive: true });
  const brokerDid = JSON.parse(node([join(root, 'dist', 'broker.js'), 'identity', '--data-dir', brokerDir, '--json'], 'broker identity').trim().split('\n').pop()).did;
  writeFileSync(
    join(userData, 'User', 'settings.json'),
    `${JSON.stringify(
      {
        'vaultysclaw.brokerMode': 'local',
        'vaultysclaw.dataDir': brokerDir,
        'vaultysclaw.hubPort': hubPort,
        'vaultysclaw.nodePath': process.execPath,
        // The Agents view says "Connecting…" until this agent reaches the broker, not "No agents yet… Enroll one".
        'vaultysclaw.expectedAgents': ['demo-agent'],
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'extensions.ignoreRecommendations': true,
        'telemetry.telemetryLevel': 'off',
        'security.workspace.trust.enabled': false,
      },
      null,
      2,
    )}\n`,
  );
  writeFileSync(join(workspace, 'hello.txt'), 'Hello from the agent workspace.\n');

  say(`▸ enrolling a local agent pinned to ${brokerDid}`);
  node([join(root, 'dist', 'agent.js'), 'init', '--state-dir', agentDir, '--broker', brokerDid], 'agent init');
  const agentDid = node([join(root, 'dist', 'agent.js'), 'status', '--state-dir', agentDir], 'agent status').match(/did:vaultys:[0-9a-f]{40}/)[0];
  writeDemoEnv(demo, { url: `ws://127.0.0.1:${hubPort}`, brokerDid, agentDid, brokerDir });
  const agentLog = openSync(join(logs, 'agent.log'), 'a');
  const agentArgs = ['--state-dir', agentDir, '--broker-url', `ws://127.0.0.1:${hubPort}`, '--workspace', workspace, '--name', 'demo-agent',
    '--request', 'read_file,list_files,write_file,run_command'];
  const agent = spawn(process.execPath, [join(root, 'dist', 'agent.js'), 'start', ...agentArgs], { stdio: ['ignore', agentLog, agentLog] });
  children.push({ child: agent, group: false });

  const port = await freePort(portArg);
  const serverLog = openSync(join(logs, 'code-server.log'), 'a');
  const server = spawn(
    codeServer,
    ['--config', config, '--user-data-dir', userData, '--extensions-dir', extensions, '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none',
      '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', workspace],
    { env, detached: true, stdio: ['ignore', serverLog, serverLog] },
  );
  children.push({ child: server, group: true });
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
  let up = false;
  for (let i = 0; i < 150 && !up; i++) {
    if (server.exitCode !== null) throw new Error(`code-server exited with ${server.exitCode}; see ${join(logs, 'code-server.log')}`);
    up = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
    if (!up) await sleep(200);
  }
  if (!up) throw new Error(`code-server did not answer on port ${port}; see ${join(logs, 'code-server.log')}`);

  say(`
✔ ready in ${Math.round((Date.now() - started) / 1000)} s. Open this in a browser on this machine (or forward port ${port}, e.g. ssh -L ${port}:127.0.0.1:${port}):

    ${url}

  1. Click the VaultysClaw shield in the activity bar: the extension starts its broker
     (agent hub ws://127.0.0.1:${hubPort}, data in ${brokerDir}).
  2. "demo-agent" appears under Pending registration within 30 s (it retries the hub): right-click it →
     Approve Registration.
  3. F1 → "VaultysClaw: Dispatch Intent" → demo-agent → read_file → hello.txt: the signed result opens.
  4. To see a review: F1 → "VaultysClaw: Edit Agent Policy", tick write_file as needing a reviewer, then
     dispatch a write as another user: in another terminal at the project root,
     export VAULTYSCLAW_DEMO_DIR=${demo}
     then run the README's "Two users" block as written (it sources ${join(demo, 'env.sh')}).

  5. Revoking demo-agent (right-click it → Revoke Agent) ends only the agent: the workbench keeps running, and this
     terminal prints the two commands that enroll an agent again.

  Logs: ${logs}. Ctrl-C stops code-server, the extension's broker and the agent.`);

  if (smoke) {
    const page = await fetch(url).then((r) => r.text());
    if (!page.includes('vscode') && !page.includes('workbench')) throw new Error('the workbench page did not load');
    if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode}; see ${join(logs, 'agent.log')}`);
    if (!readdirSync(extensions).some((d) => d.startsWith('vaultysclaw.vaultysclaw-'))) throw new Error('the extension is not installed');
    say('smoke: the workbench answers, the extension is installed and the agent runs; stopping');
    stopAll();
    return;
  }
  // The agent ending (revoked from the Agents view) is part of the demo, not its end: the workbench keeps serving.
  agent.once('exit', (code, signal) => {
    if (!stopping) say(agentExitMessage({ root, code, signal, brokerDid, stateDir: agentDir, startArgs: agentArgs, log: join(logs, 'agent.log') }));
  });
  await new Promise((done) => {
    server.once('exit', (code) => {
      say(`code-server exited (${code}); see ${join(logs, 'code-server.log')}`);
      done();
    });
  });
  stopAll();
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopAll();
    process.exit(0);
  });
}
main().catch((err) => {
  process.stderr.write(`demo failed: ${err.message}\n`);
  stopAll();
  process.exit(1);
});
