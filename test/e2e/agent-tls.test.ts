// Issue 9, the TLS side: an agent, and a team member's CLI, check the broker's wss:// certificate against a
// configured CA or a pinned fingerprint before they send a byte of their handshake, and will not speak plain
// ws:// to a remote host unless told to. Real broker (https server with a certificate made here by openssl) and agent processes.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();
let pki: string;
let broker: BrokerProcess;

const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: pki, stdio: ['ignore', 'ignore', 'pipe'] });

function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
}

before(async () => {
  pki = tempDir('tls');
  started.dirs.push(pki);
  makeCa('ca');
  makeCa('other-ca');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(pki, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.cnf');
  broker = await started.broker({ args: ['--tls-cert', join(pki, 'server.pem'), '--tls-key', join(pki, 'server.key')] });
  assert.match(broker.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
});
after(() => started.cleanup());

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
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), ...args], { encoding: 'utf8', timeout: 30_000 });

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
