// Issue 19 findings 2, 3 and 8: the audit log anchored to the broker's offline root, a restart that does
// not sign what it did not write, and a pinned verify that refuses what nothing signs. Real objects: the
// broker's own logger (createBrokerLogger) and audit files in temp dirs, rotations made by the built
// `broker identity` CLI, verdicts from the built `broker audit verify` CLI (run `npm run build` first).
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AUDIT_LOG_FILE, sha256Hex } from '../../../broker/audit/chain';
import { ChainedDestination } from '../../../broker/audit/chained-destination';
import { unverifiedTailAt } from '../../../broker/audit/resume-check';
import { verifyAuditLog } from '../../../broker/audit/verify-audit-log';
import { AUTHORITY_FILE } from '../../../broker/identity/authority-file';
import { closeBrokerLogger, createBrokerLogger } from '../../../broker/log';
import { BUDGETS } from '../../../core/budgets';
import { describeAuditVerdict, verifyLocalAuditLog } from '../../../extension/connection/broker-cli';
import { readKeyFile, type SecretIdentity } from '../../../core/identity';
import { TempDirs, TestAuditLog, BROKER, brokerCli as cli, brokerIdentity, fileLines, writeLines } from './support';

const dirs = new TempDirs();
after(() => dirs.removeAll());


function mustCli(...args: string[]): string {
  const run = cli(...args);
  if (run.status !== 0) throw new Error(`broker ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  return run.stdout;
}

interface Verdict {
  status: number | null;
  report: { ok: boolean; failure: { line: number; reason: string; detail: string } | null; rotations: { from: string; to: string }[]; unprotectedEntries: number };
}

function verify(file: string, ...args: string[]): Verdict {
  const run = cli('audit', 'verify', file, ...args, '--json');
  return { status: run.status, report: JSON.parse(run.stdout) as Verdict['report'] };
}

/** Events logged by the broker's own logger with `identity`, then a clean stop (the shutdown checkpoint). */
function brokerRun(dataDir: string, identity: SecretIdentity, events: number, event = 'intent.submitted'): void {
  const log = createBrokerLogger(dataDir, identity, 'info', { everyLines: 4, everyMs: 60_000 });
  for (let i = 0; i < events; i++) log.info({ event, n: i }, 'event');
  closeBrokerLogger(log);
}

/** A broker with a root (its key kept in another dir) that logged, was rotated while stopped, and logged again under its new id. */
function rotatedBroker(compromised: boolean): { dataDir: string; root: string; a: SecretIdentity; b: SecretIdentity; log: string } {
  const dataDir = dirs.make();
  const rootKey = join(dirs.make(), 'root.key');
  mustCli('identity', '--data-dir', dataDir);
  mustCli('identity', 'create-root', '--data-dir', dataDir, '--out', rootKey);
  const root = (JSON.parse(mustCli('identity', '--no-create', '--json', '--data-dir', dataDir)) as { root: { did: string } }).root.did;
  const a = readKeyFile(join(dataDir, 'broker.key'));
  brokerRun(dataDir, a, 10);
  mustCli('identity', 'rotate', '--data-dir', dataDir, '--root', rootKey, ...(compromised ? ['--compromised', '--reason', 'key stolen'] : []));
  const b = readKeyFile(join(dataDir, 'broker.key'));
  assert.notEqual(a.did, b.did);
  brokerRun(dataDir, b, 6);
  return { dataDir, root, a, b, log: join(dataDir, AUDIT_LOG_FILE) };
}

/** What whoever holds the replaced key A can do: cut the log at the hand-over, then log and sign on with A. */
function cutAndResignWithA(honest: { log: string; a: SecretIdentity }): string {
  const lines = fileLines(honest.log);
  const handOver = lines.findIndex((l) => l.includes('"event":"identity.rotated"'));
  assert.ok(handOver > 0);
  const forged = join(dirs.make(), AUDIT_LOG_FILE);
  writeLines(forged, lines.slice(0, handOver));
  new TestAuditLog(forged, honest.a).events(5).close();
  return forged;
}

describe('audit verify anchored to the root (issue 19 #2)', () => {
  test('after a --compromised rotation, a log cut at the hand-over and re-signed with the old key is refused against the root', () => {
    const honest = rotatedBroker(true);
    const forged = cutAndResignWithA(honest);
    const authority = join(honest.dataDir, AUTHORITY_FILE);
    // Pinned to the id it started with, the forgery is indistinguishable: that is why --root exists.
    assert.equal(verify(forged, '--broker-did', honest.a.did).status, 0);
    const anchored = verify(forged, '--root', honest.root, '--authority', authority);
    assert.equal(anchored.status, 1);
    assert.equal(anchored.report.failure?.reason, 'revoked signer');
    assert.match(anchored.report.failure?.detail ?? '', new RegExp(`signed by ${honest.a.did}, which root ${honest.root} revoked`));
    // The true log verifies against the root, with the broker's own authority file by default (it lies next to the log).
    const truth = verify(honest.log, '--root', honest.root);
    assert.equal(truth.status, 0, JSON.stringify(truth.report.failure));
    assert.deepEqual(truth.report.rotations.map((r) => [r.from, r.to]), [[honest.a.did, honest.b.did]]);
  });

  test('after a planned rotation, a log cut at the hand-over does not end under the id the root certifies', () => {
    const honest = rotatedBroker(false);
    const forged = cutAndResignWithA(honest);
    const anchored = verify(forged, '--root', honest.root, '--authority', join(honest.dataDir, AUTHORITY_FILE));
    assert.equal(anchored.status, 1);
    assert.equal(anchored.report.failure?.reason, 'not certified by the root');
    assert.match(anchored.report.failure?.detail ?? '', new RegExp(`ends with a checkpoint of ${honest.a.did}, but root ${honest.root} currently certifies ${honest.b.did} \\(serial 2\\)`));
  });

  test('a hand-over to a key the root never certified does not count, even signed by the broker key', () => {
    const dataDir = dirs.make();
    const a = brokerIdentity();
    const x = brokerIdentity();
    brokerRun(dataDir, a, 3);
    // Whoever holds A (not the root) names their own key X as successor and signs the hand-over with A.
    const log = new TestAuditLog(join(dataDir, AUDIT_LOG_FILE), a);
    log.log.warn({ event: 'identity.rotated', from: a.did, to: x.did, toId: x.id.toBase64() }, 'broker identity rotated');
    log.checkpoints.handOver(x);
    log.events(2).close();
    const verdict = verify(join(dataDir, AUDIT_LOG_FILE), '--broker-did', a.did);
    assert.equal(verdict.status, 1);
    assert.equal(verdict.report.failure?.reason, 'unanchored hand-over');
    assert.match(verdict.report.failure?.detail ?? '', new RegExp(`hand-over to ${x.did} carries no root certificate`));
  });
});

describe("the extension's Verify Audit Log after a rotation (issue 19 #2)", () => {
  test('a true log is verified against the root, not called tampered for being signed by the id before the current one', async () => {
    const honest = rotatedBroker(false);
    const cli = { nodePath: process.execPath, brokerScript: BROKER };
    // The extension's session pins the broker's current id, B; the log started under A.
    const report = await verifyLocalAuditLog(cli, honest.dataDir, honest.log, honest.b.did);
    assert.equal(report.ok, true, describeAuditVerdict(report));
    assert.match(describeAuditVerdict(report), new RegExp(`^Audit log verified: .* anchored to root ${honest.root}, ending under ${honest.b.did}`));
    // The old key's holder replaces audit.log with a version cut at the hand-over and re-signed with A.
    copyFileSync(cutAndResignWithA(honest), honest.log);
    const cut = await verifyLocalAuditLog(cli, honest.dataDir, honest.log, honest.b.did);
    assert.match(describeAuditVerdict(cut), new RegExp(`^Audit log NOT VERIFIED at line \\d+: not certified by the root — the log ends with a checkpoint of ${honest.a.did}`));
  });
});

describe('a restarted broker does not sign what it did not write (issue 19 #3)', () => {
  test('lines appended while the broker was stopped are signed as unverified at its next start, and a fake hand-over among them never counts', () => {
    const dataDir = dirs.make();
    const a = brokerIdentity();
    const x = brokerIdentity();
    brokerRun(dataDir, a, 5);
    const path = join(dataDir, AUDIT_LOG_FILE);
    const cleanLines = fileLines(path).length;
    // The broker is stopped: whoever can write the file appends chained lines (the writer lock is free).
    const appender = ChainedDestination.open(path);
    appender.append({ level: 30, time: Date.now(), event: 'approval.decided', decision: 'approved', reviewer: 'did:vaultys:' + '1'.repeat(40) });
    appender.append({ level: 40, time: Date.now(), event: 'identity.rotated', from: a.did, to: x.did, toId: x.id.toBase64() });
    appender.close();
    brokerRun(dataDir, a, 2);
    const report = verifyAuditLog(path, { brokerDid: a.did });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.deepEqual(report.rotations, [], 'the appended hand-over was not followed');
    assert.equal(report.unverifiedTails.length, 1);
    assert.deepEqual({ ...report.unverifiedTails[0], markerLine: undefined }, { line: cleanLines + 1, toLine: cleanLines + 2, entries: 2, markerLine: undefined });
    const marker = JSON.parse(fileLines(path)[report.unverifiedTails[0]!.markerLine - 1]!) as Record<string, unknown>;
    assert.equal(marker.event, 'audit.unverified-tail');
    assert.deepEqual([marker.fromSeq, marker.toSeq, marker.entries], [cleanLines, cleanLines + 1, 2]);
    // X's key then signs on: refused, the log is still A's.
    new TestAuditLog(path, x).events(1).close();
    const signedByX = verifyAuditLog(path, { brokerDid: a.did });
    assert.equal(signedByX.failure?.reason, 'bad checkpoint signature');
    assert.match(signedByX.failure?.detail ?? '', new RegExp(`signed by ${x.did}, not by the broker ${a.did}`));
  });

  test('a cleanly stopped log and a stopped rotation start with nothing to mark', () => {
    const honest = rotatedBroker(false);
    assert.equal(fileLines(honest.log).some((l) => l.includes('audit.unverified-tail')), false);
    assert.equal(unverifiedTailAt(honest.log, honest.b.did), null);
  });

  test(`BUDGETS.auditResumeScanEntries: ${BUDGETS.auditResumeScanEntries.limit} unsigned entries are named from the last checkpoint, one more are not looked through`, () => {
    const a = brokerIdentity();
    const tailOf = (entries: number) => {
      const path = join(dirs.make(), AUDIT_LOG_FILE);
      // seq 0: an event, seq 1: the shutdown checkpoint; then `entries` chained lines, written at once (the chain format of chain.ts).
      new TestAuditLog(path, a).events(1).close();
      let prev = sha256Hex(Buffer.from(fileLines(path).at(-1)!, 'utf8'));
      const lines: string[] = [];
      for (let seq = 2; seq < 2 + entries; seq++) {
        const line = JSON.stringify({ seq, prev, event: 'intent.submitted' });
        lines.push(line);
        prev = sha256Hex(Buffer.from(line, 'utf8'));
      }
      appendFileSync(path, `${lines.join('\n')}\n`);
      return unverifiedTailAt(path, a.did);
    };
    const limit = BUDGETS.auditResumeScanEntries.limit;
    assert.deepEqual(tailOf(limit), { fromSeq: 2, toSeq: 1 + limit, entries: limit });
    assert.deepEqual(tailOf(limit + 1), { fromSeq: null, toSeq: 2 + limit, entries: limit + 1 });
  });
});

describe('a pinned verify refuses what nothing signs (issue 19 #8)', () => {
  test('with --broker-did, a log rewritten as plain chained lines, or emptied, fails as unsigned', () => {
    const a = brokerIdentity();
    const honest = join(dirs.make(), AUDIT_LOG_FILE);
    brokerRun(join(honest, '..'), a, 6);
    const plain = join(dirs.make(), AUDIT_LOG_FILE);
    const rewrite = ChainedDestination.open(plain);
    for (const line of fileLines(honest)) {
      const { seq: _s, prev: _p, ...fields } = JSON.parse(line) as Record<string, unknown>;
      if (fields.event !== 'audit.checkpoint') rewrite.append(fields);
    }
    rewrite.close();
    const rewritten = verify(plain, '--broker-did', a.did, '--allow-unprotected-tail');
    assert.equal(rewritten.status, 1);
    assert.equal(rewritten.report.failure?.reason, 'unsigned');
    writeFileSync(plain, '');
    assert.equal(verify(plain, '--broker-did', a.did).report.failure?.reason, 'unsigned');
  });

  test('entries after the last checkpoint are an unprotected tail: exit 1, unless --allow-unprotected-tail', () => {
    const a = brokerIdentity();
    const dir = dirs.make();
    brokerRun(dir, a, 6);
    const path = join(dir, AUDIT_LOG_FILE);
    const first = fileLines(path).length + 1;
    const appender = ChainedDestination.open(path);
    appender.append({ event: 'approval.decided', decision: 'approved' });
    appender.append({ event: 'approval.decided', decision: 'approved' });
    appender.close();
    const strict = verify(path, '--broker-did', a.did);
    assert.equal(strict.status, 1);
    assert.equal(strict.report.failure?.reason, 'unprotected tail');
    assert.equal(strict.report.failure?.line, first);
    assert.match(cli('audit', 'verify', path, '--broker-did', a.did).stdout, /NOT VERIFIED at line \d+ \(seq \d+\): unprotected tail: 2 entries after the last checkpoint/);
    const allowed = verify(path, '--broker-did', a.did, '--allow-unprotected-tail');
    assert.equal(allowed.status, 0, JSON.stringify(allowed.report.failure));
    assert.equal(allowed.report.unprotectedEntries, 2);
  });
});
