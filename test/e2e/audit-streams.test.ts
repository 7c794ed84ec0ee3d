// End to end: a real broker process streams its audit log to a TLS syslog receiver, an HTTPS collector and its
// stdout while real agents run intents; receivers go down and come back, the broker restarts, and each destination
// still holds every line of audit.log, byte for byte, in order, its chain verifiable from what it received alone.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AUDIT_LOG_FILE } from '../../broker/audit/chain';
import { STREAM_CURSOR_DIR } from '../../broker/audit/streams/stream-cursor';
import { fileLines } from '../broker/audit/support';
import { HttpsCollector, SyslogCollector, verifiedChain } from '../support/audit-receivers';
import { ROOT, tempDir, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { makeTestPki } from '../support/test-pki';

exitIfHeldOpen();

const TOKEN = 'siem-bearer-token-not-for-logs';
const PATH_SECRET = 'ingest-key-4f1c';

describe('audit streams from a real broker', () => {
  const started = new Started();
  let pki: ReturnType<typeof makeTestPki>;
  let syslog: SyslogCollector;
  let https: HttpsCollector;
  let args: string[];
  let broker: BrokerProcess;
  let agent: AgentProcess;
  /** What each broker process printed on stdout, line by line, across restarts. */
  const stdout: string[] = [];

  const auditLines = () => fileLines(join(broker.dataDir, AUDIT_LOG_FILE));
  const auditEvents = () => auditLines().map((l) => JSON.parse(l) as Record<string, unknown>);

  const startStreamingBroker = async (dataDir?: string) => {
    broker = await started.broker({ args, captureStdout: true, ...(dataDir ? { dataDir } : {}) });
    let partial = '';
    broker.child.stdout!.setEncoding('utf8');
    broker.child.stdout!.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop()!;
      stdout.push(...parts);
    });
  };

  /** Every line audit.log holds now reached each destination, in order and byte for byte; returns what each got. */
  const everyLineEverywhere = async () => {
    const file = auditLines();
    const destinations = { syslog: () => syslog.lines, https: () => https.lines, stdout: () => stdout };
    const got: Record<string, { lines: string[]; duplicates: number }> = {};
    for (const [name, received] of Object.entries(destinations)) {
      await waitFor(`${name} to hold the ${file.length} lines of audit.log`, () => verifiedChain(received()).lines.length >= file.length, 30_000);
      const chain = verifiedChain(received());
      assert.deepEqual(chain.lines.slice(0, file.length), file, `${name}: every line of audit.log, in order, byte for byte`);
      got[name] = chain;
    }
    return got;
  };

  const listFiles = async (times: number) => {
    for (let i = 0; i < times; i++) {
      const { id } = await broker.client.call('intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } });
      await waitFor(`intent ${id} to succeed`, async () => (await broker.client.call('intentsGet', { id })).state === 'succeeded', 20_000);
    }
  };

  before(async () => {
    const dir = tempDir('audit-streams');
    started.dirs.push(dir);
    pki = makeTestPki(dir);
    syslog = new SyslogCollector(pki);
    https = new HttpsCollector(pki);
    await syslog.start();
    await https.start();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    args = [
      '--audit-syslog', `tls://127.0.0.1:${syslog.port}`,
      '--audit-https', `${https.url}/v1/${PATH_SECRET}`, '--audit-https-token-file', tokenFile,
      '--audit-ca', pki.ca,
      '--audit-stdout',
    ];
    await startStreamingBroker();
    agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did });
    await waitFor('the agent to be a pending, online registration', async () =>
      (await broker.client.call('registrationsList', {})).items.find((r) => r.did === agent.did && r.online),
    );
    await broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['list_files'], maxRequestsPerHour: 100 } });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
  });
  after(async () => {
    await started.cleanup();
    await syslog.stop();
    await https.stop();
  });

  test('syslog over TLS, an HTTPS collector and stdout each get every audit line from the first, byte for byte, the chain verifiable', async () => {
    await listFiles(3);
    const got = await everyLineEverywhere();
    assert.equal(JSON.parse(got.syslog!.lines[0]!).seq, 0, 'from the first line of the log');
    assert.ok(auditEvents().some((l) => l.event === 'intent.routed'));
    // The syslog header names the event each line records.
    for (const m of syslog.messages.slice(0, 50)) assert.equal(m.msgId, JSON.parse(m.msg).event);
    assert.ok(https.authorizations.length > 0 && https.authorizations.every((a) => a === `Bearer ${TOKEN}`));
  });

  test('receivers down for a while get every line written meanwhile once back, duplicates only as re-sent seqs; each outage is two audit lines', async () => {
    await syslog.stop();
    await https.stop();
    await listFiles(3);
    await waitFor('both outages to be audited', () => {
      const failing = auditEvents().filter((l) => l.event === 'audit.stream-failing');
      return failing.some((l) => l.destination === 'syslog') && failing.some((l) => l.destination === 'https');
    }, 20_000);
    await listFiles(2);
    await syslog.start(syslog.port);
    await https.start(https.port);
    await waitFor('both recoveries to be audited', () => {
      const recovered = auditEvents().filter((l) => l.event === 'audit.stream-recovered');
      return recovered.some((l) => l.destination === 'syslog') && recovered.some((l) => l.destination === 'https');
    }, 90_000);
    await everyLineEverywhere();
    const outage = auditEvents().filter((l) => String(l.event).startsWith('audit.stream-'));
    assert.equal(outage.length, 4, 'failing and recovered, once per destination');
    for (const line of outage) {
      assert.ok(line.endpoint === `https://127.0.0.1:${https.port}` || line.endpoint === `tls://127.0.0.1:${syslog.port}`, String(line.endpoint));
    }
    const text = readFileSync(join(broker.dataDir, AUDIT_LOG_FILE), 'utf8');
    assert.ok(!text.includes(TOKEN) && !text.includes(PATH_SECRET), 'neither the token nor the URL path is ever logged');
  });

  test('a restarted broker resumes each destination from its cursor (0600) instead of the first line', async () => {
    await everyLineEverywhere();
    const before = { syslog: syslog.lines.length, https: https.lines.length, stdout: stdout.length };
    const lastSeq = JSON.parse(auditLines().at(-1)!).seq as number;
    const dataDir = broker.dataDir;
    await broker.stop();
    const cursors = readdirSync(join(dataDir, STREAM_CURSOR_DIR));
    assert.equal(cursors.length, 3, cursors.join(', '));
    for (const file of cursors) assert.equal(statSync(join(dataDir, STREAM_CURSOR_DIR, file)).mode & 0o777, 0o600, file);
    await startStreamingBroker(dataDir);
    await everyLineEverywhere();
    for (const [name, received] of [['syslog', syslog.lines], ['https', https.lines], ['stdout', stdout]] as const) {
      const firstAfterRestart = JSON.parse(received[before[name]]!).seq as number;
      assert.ok(firstAfterRestart > 0 && firstAfterRestart <= lastSeq + 1, `${name} resumed at seq ${firstAfterRestart}, not from the start (last seq before the stop: ${lastSeq})`);
    }
  });

  test('a stdout reader that goes away (EPIPE) is a failing destination, audited, not a broker that stops', async () => {
    const alone = await started.broker({ args: ['--audit-stdout'], captureStdout: true });
    alone.child.stdout!.destroy();
    // Lines to stream: an agent that asks to register.
    await started.agent({ brokerUrl: alone.url, brokerDid: alone.did });
    const lines = () => fileLines(join(alone.dataDir, AUDIT_LOG_FILE)).map((l) => JSON.parse(l) as Record<string, unknown>);
    const failing = await waitFor('the stdout stream to fail', () => lines().find((l) => l.event === 'audit.stream-failing'), 20_000);
    assert.equal(failing.destination, 'stdout');
    assert.match(String(failing.reason), /EPIPE/);
    assert.equal(alone.child.exitCode, null, 'the broker runs on');
    assert.equal((await alone.client.call('brokerInfo', {})).did, alone.did, 'and answers');
  });

  test('plain tcp:// syslog to a host that is not loopback is refused at start, and so is --audit-stdout with --stdio', () => {
    const start = (...extra: string[]) => {
      const dataDir = tempDir('refused');
      started.dirs.push(dataDir);
      return spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), 'start', '--data-dir', dataDir, '--port', '0', ...extra], { encoding: 'utf8', timeout: 20_000 });
    };
    const plain = start('--audit-syslog', 'tcp://192.0.2.1:514');
    assert.notEqual(plain.status, 0);
    assert.match(plain.stderr, /refusing plain tcp:\/\/ to 192\.0\.2\.1, which is not a loopback address: use tls:\/\//);
    const stdio = start('--audit-stdout', '--stdio');
    assert.notEqual(stdio.status, 0);
    assert.match(stdio.stderr, /--audit-stdout cannot go with --stdio/);
  });
});
