// Issue 9, the TLS side: an agent, and a team member's CLI, check the broker's wss:// certificate against a
// configured CA or a pinned fingerprint before they send a byte of their handshake, and will not speak plain
// ws:// to a remote host unless told to. Real broker (https server with a certificate made here by openssl) and agent processes.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { makeTestPki } from '../support/test-pki';

exitIfHeldOpen();
const started = new Started();
let pki: string;
let broker: BrokerProcess;

before(async () => {
  pki = tempDir('tls');
  started.dirs.push(pki);
  makeTestPki(pki);
  broker = await started.broker({ args: ['--tls-cert', join(pki, 'server.pem'), '--tls-key', join(pki, 'server.key')] });
  assert.match(broker.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
});
after(() => started.cleanup());

/** The built broker CLI, as a team member runs it. */
const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), ...args], { encoding: 'utf8', timeout: 30_000 });

function cliAsync(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'dist', 'broker.js'), ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

const fingerprint = () => new X509Certificate(readFileSync(join(pki, 'server.pem'))).fingerprint256;

async function connects(args: string[]): Promise<AgentProcess> {
  const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'list_files', args });
  await agent.log.waitFor('auth.succeeded', undefined, 20_000);
  return agent;
}

/** Refused at the TLS layer: never upgraded, never authenticated, unknown to the broker. */
async function refusedTls(args: string[], reason: string, detail: RegExp): Promise<void> {
  const agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'list_files', args });
  const line = await agent.log.waitFor('tls.refused', undefined, 20_000);
  assert.equal(line.reason, reason);
  assert.match(String(line.detail), detail);
  await waitFor('a second refusal (it retries, and is refused again)', () => agent.log.lines.filter((l) => l.event === 'tls.refused').length >= 2 || undefined, 20_000);
  assert.equal(agent.log.find('hub.connected'), undefined, 'the WebSocket never opened');
  assert.equal(broker.log.find('registration.pending', (l) => l.did === agent.did), undefined, 'the broker never saw its handshake');
  await agent.kill();
}

describe('agent TLS verification', () => {
  test('a broker certificate issued by the configured CA is accepted', async () => {
    await connects(['--ca', join(pki, 'ca.pem')]);
  });

  test("a broker certificate from another CA is refused, and so is one the system's CAs do not know", async () => {
    await refusedTls(['--ca', join(pki, 'other-ca.pem')], 'untrusted-certificate', /certificate/i);
    await refusedTls([], 'untrusted-certificate', /certificate/i);
  });

  test("a pinned certificate fingerprint is accepted without a CA; any other fingerprint is refused before the handshake", async () => {
    await connects(['--tls-pin', fingerprint()]);
    const wrong = fingerprint().replace(/^../, (b) => (b === 'AA' ? 'BB' : 'AA'));
    await refusedTls(['--tls-pin', wrong], 'pin-mismatch', new RegExp(`presented a TLS certificate with SHA-256 ${fingerprint().replace(/:/g, '')}, not the pinned`));
  });

  test('plain ws:// to a non-loopback host is refused at start; with --allow-plain-ws it runs, loudly', async () => {
    const stateDir = tempDir('tls-agent');
    // Apart from the state: the agent refuses a workspace that holds its key.
    const workspace = tempDir('tls-workspace');
    started.dirs.push(stateDir, workspace);
    const agentJs = join(ROOT, 'dist', 'agent.js');
    const init = spawnSync(process.execPath, [agentJs, 'init', '--state-dir', stateDir, '--broker', broker.did], { encoding: 'utf8' });
    assert.equal(init.status, 0, init.stderr);
    // 192.0.2.1: TEST-NET-1, never a real host.
    const run = (url: string) => spawnSync(process.execPath, [agentJs, 'start', '--state-dir', stateDir, '--broker-url', url, '--workspace', workspace], { encoding: 'utf8', timeout: 20_000 });
    const refused = run('ws://192.0.2.1:8080');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /refusing plain ws:\/\/ to 192\.0\.2\.1, which is not a loopback address/);
    // Every node of a list is checked, not only the first one dialled.
    const inList = run('ws://127.0.0.1:8080,ws://192.0.2.1:8080');
    assert.equal(inList.status, 1);
    assert.match(inList.stderr, /refusing plain ws:\/\/ to 192\.0\.2\.1, which is not a loopback address/);
    assert.match(run('http://127.0.0.1:8080').stderr, /must be wss:\/\/ \(or ws:\/\/ to a loopback address\)/);

    // Allowed, it dials: 0.0.0.0 is not a loopback name to the check, yet Linux delivers it to this host, so no
    // packet leaves the machine (the broker there speaks TLS, so the plain connection fails and is retried).
    const plainUrl = `ws://0.0.0.0:${new URL(broker.url).port}`;
    assert.match(run(plainUrl).stderr, /refusing plain ws:\/\/ to 0\.0\.0\.0/);
    const allowed = await started.agent({ brokerUrl: plainUrl, brokerDid: broker.did, stateDir, workspace, args: ['--allow-plain-ws'] });
    const warning = await allowed.log.waitFor('transport.insecure');
    assert.equal(warning.url, plainUrl);
    assert.equal(allowed.child.exitCode, null);
  });
});

describe('a team member\'s CLI checks the broker\'s TLS certificate too', () => {

  test('--ca and --tls-pin decide, before the user handshake, which certificate is accepted', () => {
    const key = join(pki, 'member.key');
    assert.equal(cli('keygen', key).status, 0);
    const invite = cli('invite', '--data-dir', broker.dataDir, '--role', 'viewer', '--token-only');
    assert.equal(invite.status, 0, invite.stderr);
    const remote = ['--key', key, '--url', broker.url, '--broker-did', broker.did];

    // The token through stdin: on a command line any local user could read it.
    const joined = spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), 'join', ...remote, '--invitation-file', '-', '--ca', join(pki, 'ca.pem')], { encoding: 'utf8', timeout: 30_000, input: invite.stdout });
    assert.equal(joined.status, 0, joined.stderr);
    const listed = cli('agents', ...remote, '--ca', join(pki, 'ca.pem'));
    assert.equal(listed.status, 0, listed.stderr);

    for (const args of [['--ca', join(pki, 'other-ca.pem')], []]) {
      const refused = cli('agents', ...remote, ...args);
      assert.equal(refused.status, 1, `${args.join(' ')}: ${refused.stdout}`);
      assert.match(refused.stderr, /cannot reach the broker at wss:.*certificate/i);
    }
    const wrong = fingerprint().replace(/^../, (b) => (b === 'AA' ? 'BB' : 'AA'));
    const mismatch = cli('agents', ...remote, '--tls-pin', wrong);
    assert.equal(mismatch.status, 1);
    assert.match(mismatch.stderr, new RegExp(`presented a TLS certificate with SHA-256 ${fingerprint().replace(/:/g, '')}, not the pinned`));
    const pinned = cli('agents', ...remote, '--tls-pin', fingerprint());
    assert.equal(pinned.status, 0, pinned.stderr);
  });
});

/**
 * Issue 19 finding 4: a man in the middle with any certificate. The pin must be checked inside the TLS
 * handshake, so that the upgrade request (path, query, headers, credentials) never reaches it.
 */
describe('a man in the middle with another certificate receives no byte of ours', () => {
  let mitm: Server;
  let mitmUrl: string;
  const received: Buffer[] = [];
  before(async () => {
    mitm = createServer({ cert: readFileSync(join(pki, 'other-ca.pem')), key: readFileSync(join(pki, 'other-ca.key')) }, (socket) => {
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => mitm.listen(0, '127.0.0.1', resolve));
    mitmUrl = `wss://127.0.0.1:${(mitm.address() as AddressInfo).port}`;
  });
  after(() => mitm?.close());
  const bytesReceived = () => Buffer.concat(received).toString('latin1');

  test('an agent with --tls-pin refuses it inside the TLS handshake: no upgrade request, no path, no header', async () => {
    received.length = 0;
    const agent = await started.agent({ brokerUrl: `${mitmUrl}/hub?access_token=s3cret`, brokerDid: broker.did, request: 'list_files', args: ['--tls-pin', fingerprint()] });
    const line = await agent.log.waitFor('tls.refused', undefined, 20_000);
    assert.equal(line.reason, 'pin-mismatch');
    await waitFor('a second refusal', () => agent.log.lines.filter((l) => l.event === 'tls.refused').length >= 2 || undefined, 20_000);
    await agent.kill();
    assert.equal(bytesReceived(), '', 'the man in the middle received application bytes');
  });

  test("a team member's CLI with --tls-pin refuses it the same way", async () => {
    received.length = 0;
    const key = join(pki, 'mitm-member.key');
    assert.equal(cli('keygen', key).status, 0);
    // Not spawnSync: the man in the middle runs in this process and must answer the TLS handshake.
    const run = await cliAsync('agents', '--key', key, '--url', `${mitmUrl}/base?access_token=s3cret`, '--broker-did', broker.did, '--tls-pin', fingerprint());
    assert.equal(run.status, 1);
    assert.match(run.stderr, /presented a TLS certificate with SHA-256 [0-9A-F]{64}, not the pinned/);
    assert.equal(bytesReceived(), '', 'the man in the middle received application bytes');
  });

  test('credentials in a broker URL are refused before any connection, and never printed', () => {
    received.length = 0;
    const key = join(pki, 'mitm-member.key');
    const url = mitmUrl.replace('wss://', 'wss://alice:pa55word@');
    const run = cli('agents', '--key', key, '--url', url, '--broker-did', broker.did, '--tls-pin', fingerprint());
    assert.equal(run.status, 1);
    assert.match(run.stderr, /must not carry a user name or password/);
    assert.equal(`${run.stdout}${run.stderr}`.includes('pa55word'), false);
    assert.equal(received.length, 0);
  });
});
