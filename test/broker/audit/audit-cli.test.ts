// The built CLI (`node dist/broker.js audit verify`, so run `npm run build` first) and a real broker
// process: its whole normal log, from start to a SIGTERM stop, is an audit.log that verifies.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { verifyAuditLog } from '../../../broker/audit/verify-audit-log';
import { TempDirs, BROKER, brokerCli as cli, brokerIdentity, fileLines, lineKinds, parsedLines, writeHonestLog, writeLines } from './support';

const dirs = new TempDirs();
after(() => dirs.removeAll());


const broker = brokerIdentity();

describe('broker audit verify (CLI)', () => {
  test('exits 0 on an honest log, pinned by DID or by fingerprint', () => {
    const path = writeHonestLog(dirs.make(), broker);
    const byDid = cli('audit', 'verify', path, '--broker-did', broker.did);
    assert.equal(byDid.status, 0, byDid.stdout + byDid.stderr);
    assert.match(byDid.stdout, /OK: 28 lines, 28 chained entries, 5 signed checkpoints/);
    assert.match(byDid.stdout, /pinned with --broker-did/);
    assert.equal(cli('audit', 'verify', path, '--broker-did', broker.id.fingerprint).status, 0);
  });

  test('says when it is unpinned', () => {
    const path = writeHonestLog(dirs.make(), broker);
    const run = cli('audit', 'verify', path);
    assert.equal(run.status, 0);
    assert.match(run.stdout, /UNPINNED/);
  });

  test('exits 1 and names the first tampered line; --json gives the same verdict as data', () => {
    const path = writeHonestLog(dirs.make(), broker);
    const lines = fileLines(path);
    const index = lineKinds(path).ordinary[9]!;
    lines[index] = lines[index]!.replace('intent-', 'intent_');
    writeLines(path, lines);
    const text = cli('audit', 'verify', path, '--broker-did', broker.did);
    assert.equal(text.status, 1);
    assert.match(text.stdout, new RegExp(`TAMPERED at line ${index + 1} \\(seq ${index}\\): edited`));
    const json = cli('audit', 'verify', path, '--broker-did', broker.did, '--json');
    assert.equal(json.status, 1);
    const report = JSON.parse(json.stdout) as { ok: boolean; failure: { line: number; seq: number; reason: string } };
    assert.deepEqual([report.ok, report.failure.line, report.failure.seq, report.failure.reason], [false, index + 1, index, 'edited']);
  });

  test('exits 1 when the checkpoints are signed by another broker than the pinned one', () => {
    const path = writeHonestLog(dirs.make(), brokerIdentity());
    const run = cli('audit', 'verify', path, '--broker-did', broker.did);
    assert.equal(run.status, 1);
    assert.match(run.stdout, /bad checkpoint signature/);
  });

  test('exits 1 on a --broker-did that is not a DID, and on a missing file', () => {
    const path = writeHonestLog(dirs.make(), broker);
    assert.equal(cli('audit', 'verify', path, '--broker-did', 'nope').status, 1);
    assert.equal(cli('audit', 'verify', join(dirs.make(), 'absent.log')).status, 1);
  });
});

describe('a real broker process', () => {
  test('its whole log, from start to SIGTERM, is an audit.log that verifies and ends with a shutdown checkpoint', async () => {
    const dataDir = dirs.make();
    const child = spawn(process.execPath, [BROKER, 'start', '--data-dir', dataDir, '--port', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, VAULTYSCLAW_LOG_LEVEL: 'debug' },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const started = new Promise<void>((resolveStarted, reject) => {
      const timer = setTimeout(() => reject(new Error(`broker did not start within 15 s:\n${stderr}`)), 15_000);
      child.stderr.on('data', (chunk: string) => {
        stderr += chunk;
        // The banner, not the broker.started line: it comes right before the SIGTERM handler is installed.
        if (stderr.includes('VaultysClaw broker listening on')) {
          clearTimeout(timer);
          resolveStarted();
        }
      });
      child.once('exit', (code) => reject(new Error(`broker exited with ${code}:\n${stderr}`)));
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await started;
      // A signal sent the instant a child's write arrives can beat its just-installed handler (plain Node does this too).
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);

    const identity = cli('identity', '--no-create', '--json', '--data-dir', dataDir);
    const did = (JSON.parse(identity.stdout) as { did: string }).did;
    const path = join(dataDir, 'audit.log');
    const report = verifyAuditLog(path, { brokerDid: did });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.equal(report.unprotectedEntries, 0);
    const events = parsedLines(path).map((l) => l.event);
    assert.ok(events.includes('broker.started') && events.includes('broker.stopping'), events.join(', '));
    const last = parsedLines(path).at(-1)!;
    assert.deepEqual([last.event, last.reason, last.broker], ['audit.checkpoint', 'shutdown', did]);
    const run = cli('audit', 'verify', path, '--broker-did', did);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(existsSync(`${path}.lock`), false, 'a clean stop releases the writer lock');
  });
});
