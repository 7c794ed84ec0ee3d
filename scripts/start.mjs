// The main job on a fresh machine: build, start a broker and a local agent on a
// temporary workspace, approve the agent, dispatch a first intent and print its
// verified result; then keep both running until Ctrl-C.
// `--smoke` stops after the first result (used by the test suite).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { agentExitMessage } from './agent-exit.mjs';
import { writeDemoEnv } from './demo-env.mjs';
import { freePort } from './free-port.mjs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = resolve(import.meta.dirname, '..');
const smoke = process.argv.includes('--smoke');
const demo = resolve(process.env.VAULTYSCLAW_DEMO_DIR ?? join(root, '.vaultysclaw', 'demo'));
const brokerDir = join(demo, 'broker');
const agentDir = join(demo, 'agent');
const workspace = join(demo, 'workspace');
const children = [];

const say = (text) => process.stdout.write(`${text}\n`);
const node = (script, args, options = {}) => spawnSync(process.execPath, [join(root, 'dist', script), ...args], { encoding: 'utf8', ...options });
function must(result, what) {
  if (result.status !== 0) throw new Error(`${what} failed:\n${result.stderr || result.stdout}`);
  return result.stdout;
}

let stopping = false;
function stopAll() {
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
}

async function main() {
  say('▸ building');
  must(spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { encoding: 'utf8', cwd: root }), 'build');

  rmSync(demo, { recursive: true, force: true });
  mkdirSync(workspace, { recursive: true });
  writeFileSync(join(workspace, 'hello.txt'), 'Hello from the agent workspace.\n');

  const port = await freePort(Number(process.env.VAULTYSCLAW_PORT ?? 8080));
  const url = `ws://127.0.0.1:${port}`;
  say(`▸ starting the broker on ${url} (data: ${brokerDir})`);
  const brokerDid = JSON.parse(must(node('broker.js', ['identity', '--data-dir', brokerDir, '--json']), 'broker identity')).did;
  const broker = spawn(process.execPath, [join(root, 'dist', 'broker.js'), 'start', '--data-dir', brokerDir, '--port', String(port)], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  children.push(broker);
  broker.stderr.on('data', (chunk) => process.stderr.write(`[broker] ${chunk}`.replace(/\n(?=.)/g, '\n[broker] ')));
  for (let i = 0; i < 100 && !existsSync(join(brokerDir, 'broker.sock')); i++) await sleep(100);
  if (!existsSync(join(brokerDir, 'broker.sock'))) throw new Error('the broker did not start; see its output above');

  say(`▸ enrolling a local agent pinned to ${brokerDid}`);
  must(node('agent.js', ['init', '--state-dir', agentDir, '--broker', brokerDid]), 'agent init');
  const agentDid = must(node('agent.js', ['status', '--state-dir', agentDir]), 'agent status').match(/did:vaultys:[0-9a-f]{40}/)[0];
  writeFileSync(join(demo, 'agent-did'), `${agentDid}\n`);
  // For the README's two-user flow: `source .vaultysclaw/demo/env.sh`.
  writeDemoEnv(demo, { url, brokerDid, agentDid, brokerDir });
  const agentArgs = ['--state-dir', agentDir, '--broker-url', url, '--workspace', workspace, '--name', 'local-demo', '--request', 'read_file,list_files,write_file,run_command'];
  const agent = spawn(process.execPath, [join(root, 'dist', 'agent.js'), 'start', ...agentArgs], { stdio: ['ignore', 'inherit', 'pipe'] });
  children.push(agent);
  agent.stderr.on('data', (chunk) => process.stderr.write(`[agent] ${chunk}`.replace(/\n(?=.)/g, '\n[agent] ')));

  say('▸ waiting for its registration');
  let pending = false;
  for (let i = 0; i < 100 && !pending; i++) {
    const list = node('broker.js', ['agents', '--data-dir', brokerDir]);
    pending = list.status === 0 && JSON.parse(list.stdout).some((a) => a.did === agentDid && a.online);
    if (!pending) await sleep(100);
  }
  if (!pending) throw new Error('the agent did not register; see its output above');

  say('▸ approving it: read_file, list_files, write_file, run_command');
  must(node('broker.js', ['approve', agentDid, '--data-dir', brokerDir, '--capabilities', 'read_file,list_files,write_file,run_command']), 'approve');
  await sleep(300);

  say('▸ dispatching a first intent: read_file hello.txt');
  const result = node('broker.js', ['dispatch', agentDid, 'read_file', '{"path":"hello.txt"}', '--data-dir', brokerDir, '--timeout', '20']);
  say(result.stdout);
  if (result.status !== 0) throw new Error(`the first intent did not succeed:\n${result.stderr}`);

  if (smoke) return;
  say(`VaultysClaw is running. Broker ${brokerDid} on ${url}; agent ${agentDid} serving ${workspace}.
Try, in another terminal:
  npm run dispatch -- list_files '{"path":"."}'
  npm run dispatch -- run_command '{"command":"ls","args":["-la"],"cwd":".","timeoutMs":5000}'
  node dist/broker.js agents --data-dir ${brokerDir}
Press Ctrl-C to stop.`);
  // A revoked agent exits (code 3); the broker keeps running and this says how to enroll one again.
  agent.once('exit', (code, signal) => stopping || say(agentExitMessage({ root, code, signal, brokerDid, stateDir: agentDir, startArgs: agentArgs })));
  await new Promise((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    broker.once('exit', done);
  });
}

main()
  .then(() => {
    stopAll();
  })
  .catch((err) => {
    process.stderr.write(`start: ${err.message}\n`);
    stopAll();
    process.exitCode = 1;
  });
