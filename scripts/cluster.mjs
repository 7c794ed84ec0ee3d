// A local cluster for trying it (issue 20): a PostgreSQL server and a nats-server from Debian's packages, three
// broker nodes sharing one identity, one database and one bus, and a local agent that knows all three. Then an
// intent dispatched through the third node to the agent connected to the first, and its verified result printed;
// everything keeps running until Ctrl-C, which stops it all (the servers' data is temporary).
// `--smoke` stops after the first result (used by the test suite). The servers are started the way the tests start
// them (test/support/postgres.ts and nats.ts: real servers on 127.0.0.1, PostgreSQL as the postgres user when run as root).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tsImport } from 'tsx/esm/api';
import { freePort } from './free-port.mjs';

const root = resolve(import.meta.dirname, '..');
const smoke = process.argv.includes('--smoke');
const base = resolve(process.env.VAULTYSCLAW_CLUSTER_DIR ?? join(root, '.vaultysclaw', 'cluster'));
const NODES = 3;
/** What every node shares with the first: the broker's identity (and its root's chain, if any) and the host operator's key. */
const SHARED = ['broker.key', 'broker-authority.json', 'operator.key'];
const children = [];
const servers = [];

const say = (text) => process.stdout.write(`${text}\n`);
const node = (script, args) => spawnSync(process.execPath, [join(root, 'dist', script), ...args], { encoding: 'utf8' });
function must(result, what) {
  if (result.status !== 0) throw new Error(`${what} failed:\n${result.stderr || result.stdout}`);
  return result.stdout;
}
function child(name, script, args) {
  const proc = spawn(process.execPath, [join(root, 'dist', script), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  proc.stderr.on('data', (chunk) => process.stderr.write(`[${name}] ${chunk}`.replace(/\n(?=.)/g, `\n[${name}] `)));
  children.push(proc);
  return proc;
}

async function main() {
  say('▸ building');
  must(spawnSync(process.execPath, [join(root, 'esbuild.mjs')], { encoding: 'utf8', cwd: root }), 'build');
  rmSync(base, { recursive: true, force: true });
  const workspace = join(base, 'workspace');
  mkdirSync(workspace, { recursive: true });
  writeFileSync(join(workspace, 'hello.txt'), 'Hello from a cluster of brokers.\n');

  say('▸ starting PostgreSQL and nats-server on 127.0.0.1 (temporary data)');
  const { startPostgres } = await tsImport('../test/support/postgres.ts', import.meta.url);
  const { startNats } = await tsImport('../test/support/nats.ts', import.meta.url);
  const postgres = await startPostgres();
  servers.push(() => postgres.stop());
  const nats = await startNats();
  servers.push(() => nats.close());
  const database = await postgres.createDatabase();

  const dirs = Array.from({ length: NODES }, (_, i) => join(base, `node-${i}`));
  const brokerDid = JSON.parse(must(node('broker.js', ['identity', '--data-dir', dirs[0], '--json']), 'broker identity')).did;
  const urls = [];
  for (const [i, dir] of dirs.entries()) {
    // node-0 made the identity and, at its start, the host operator's key: the others are given the same.
    if (i > 0) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      for (const file of SHARED) if (existsSync(join(dirs[0], file))) copyFileSync(join(dirs[0], file), join(dir, file));
    }
    const first = Number(process.env.VAULTYSCLAW_PORT ?? 8080);
    const port = await freePort(first === 0 ? 0 : first + i);
    urls.push(`ws://127.0.0.1:${port}`);
    say(`▸ starting node-${i} on ${urls[i]} (data: ${dir})`);
    child(`node-${i}`, 'broker.js', ['start', '--data-dir', dir, '--port', String(port), '--database', database, '--nats', nats.url, '--node-name', `node-${i}`]);
    for (let t = 0; t < 150 && !existsSync(join(dir, 'broker.sock')); t++) await sleep(100);
    if (!existsSync(join(dir, 'broker.sock'))) throw new Error(`node-${i} did not start; see its output above`);
  }

  say(`▸ a local agent pinned to ${brokerDid}, connected to node-0 (it knows all three)`);
  const agentDir = join(base, 'agent');
  must(node('agent.js', ['init', '--state-dir', agentDir, '--broker', brokerDid]), 'agent init');
  const agentDid = must(node('agent.js', ['status', '--state-dir', agentDir]), 'agent status').match(/did:vaultys:[0-9a-f]{40}/)[0];
  child('agent', 'agent.js', ['start', '--state-dir', agentDir, '--broker-url', urls.join(','), '--workspace', workspace, '--name', 'cluster-demo', '--request', 'read_file,list_files,write_file,run_command']);

  say('▸ waiting for its registration, seen from node-1');
  let pending = false;
  for (let i = 0; i < 150 && !pending; i++) {
    const list = node('broker.js', ['agents', '--data-dir', dirs[1]]);
    pending = list.status === 0 && JSON.parse(list.stdout).some((a) => a.did === agentDid && a.online);
    if (!pending) await sleep(100);
  }
  if (!pending) throw new Error('the agent did not register; see its output above');
  say('▸ approving it on node-1');
  must(node('broker.js', ['approve', agentDid, '--data-dir', dirs[1], '--capabilities', 'read_file,list_files,write_file,run_command']), 'approve');
  await sleep(500);

  say('▸ dispatching read_file hello.txt through node-2');
  const result = node('broker.js', ['dispatch', agentDid, 'read_file', '{"path":"hello.txt"}', '--data-dir', dirs[2], '--timeout', '20']);
  say(result.stdout);
  if (result.status !== 0) throw new Error(`the first intent did not succeed:\n${result.stderr}`);
  if (smoke) return;
  say(`A cluster of ${NODES} brokers is running: ${urls.join(', ')} (PostgreSQL ${postgres.adminUrl.replace(/\/\/[^@]*@/, '//')}, NATS ${nats.url}).
Try, in another terminal, through any node:
  node dist/broker.js agents --data-dir ${dirs[2]}
  node dist/broker.js dispatch ${agentDid} list_files '{"path":"."}' --data-dir ${dirs[1]}
Stop the node the agent uses (it reconnects to another) and dispatch again. Press Ctrl-C to stop everything.`);
  await new Promise((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

async function stopAll() {
  for (const proc of children) if (proc.exitCode === null) proc.kill('SIGTERM');
  await sleep(1000);
  for (const stop of servers.reverse()) await stop().catch(() => undefined);
}

main()
  .then(stopAll)
  .catch(async (err) => {
    process.stderr.write(`cluster: ${err.message}\n`);
    await stopAll();
    process.exitCode = 1;
  });
