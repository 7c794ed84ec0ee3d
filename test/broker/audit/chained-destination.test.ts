// The writer side: chain fields, resuming an existing file, and what happens to a line a crash tore.
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GENESIS_PREV, sha256Hex } from '../../../broker/audit/chain';
import { ChainedDestination } from '../../../broker/audit/chained-destination';
import { UnchainedTailError } from '../../../broker/audit/resume-point';
import { AuditLogLockedError } from '../../../broker/audit/writer-lock';
import { verifyAuditLog } from '../../../broker/audit/verify-audit-log';
import { TempDirs, TestAuditLog, brokerIdentity, fileLines, parsedLines, writeLines } from './support';

const dirs = new TempDirs();
after(() => dirs.removeAll());

const broker = brokerIdentity();
const newLogPath = () => join(dirs.make(), 'audit.log');

/** Simulates a crash in the middle of a write: the file ends with the first half of an entry, no "\n". */
function crashMidLine(path: string): string {
  const half = '{"seq":999,"prev":"00","level":30,"time":17956343';
  appendFileSync(path, half);
  return half;
}

describe('chained destination', () => {
  test('adds seq 0,1,2… and prev = SHA-256 of the previous line, genesis zeros first, in a 0600 file', () => {
    const path = newLogPath();
    const log = new TestAuditLog(path, broker, { everyLines: 1000, everyMs: 60_000 }).events(4);
    log.destination.close();
    const lines = fileLines(path);
    const parsed = parsedLines(path);
    assert.deepEqual(parsed.map((l) => l.seq), [0, 1, 2, 3]);
    assert.equal(parsed[0]!.prev, GENESIS_PREV);
    for (let i = 1; i < lines.length; i++) assert.equal(parsed[i]!.prev, sha256Hex(Buffer.from(lines[i - 1]!)));
    assert.equal(parsed[2]!.msg, 'event number 2', "pino's fields are kept");
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  test('an existing log opened with a wider mode is tightened to 0600', () => {
    const path = newLogPath();
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    ChainedDestination.open(path).close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  test("a caller's own seq or prev cannot break the chain and is kept under another name", () => {
    const path = newLogPath();
    const log = new TestAuditLog(path, broker);
    log.log.info({ event: 'x', seq: 41, prev: 'mine' }, 'caller fields');
    log.close();
    const first = parsedLines(path)[0]!;
    assert.deepEqual([first.seq, first.prev, first.shadowedChainFields], [0, GENESIS_PREV, { seq: 41, prev: 'mine' }]);
    assert.equal(verifyAuditLog(path, { brokerDid: broker.did }).ok, true);
  });

  test('resuming after reopen continues the same chain', () => {
    const path = newLogPath();
    new TestAuditLog(path, broker).events(7).close();
    const before = fileLines(path);
    const reopened = new TestAuditLog(path, broker);
    assert.deepEqual(reopened.destination.state, { nextSeq: before.length, head: sha256Hex(Buffer.from(before.at(-1)!)) });
    reopened.events(7, 7).close();
    const parsed = parsedLines(path);
    assert.deepEqual(parsed.map((l) => l.seq), parsed.map((_, i) => i));
    const report = verifyAuditLog(path, { brokerDid: broker.did });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.equal(report.entries, parsed.length);
  });

  test('Crash: a torn last line is kept, ended, and frozen by an audit.torn-line record; the log then verifies and reports it', () => {
    const path = newLogPath();
    new TestAuditLog(path, broker).events(7).close();
    const complete = fileLines(path);
    const half = crashMidLine(path);

    // Before the broker restarts, the verifier sees an unrecorded fragment at the end: verified, with a warning.
    const crashed = verifyAuditLog(path, { brokerDid: broker.did });
    assert.equal(crashed.ok, true);
    assert.deepEqual(crashed.unrecordedTail, { line: complete.length + 1, lines: 1, bytes: half.length });

    const reopened = new TestAuditLog(path, broker);
    assert.deepEqual(reopened.destination.recoveredTornTail && { lines: reopened.destination.recoveredTornTail.lines, bytes: reopened.destination.recoveredTornTail.bytes }, { lines: 1, bytes: half.length });
    reopened.events(3, 7).close();

    const lines = fileLines(path);
    assert.equal(lines[complete.length], half, 'the fragment is kept byte for byte, on its own line');
    const record = JSON.parse(lines[complete.length + 1]!) as Record<string, unknown>;
    assert.equal(record.event, 'audit.torn-line');
    assert.equal(record.seq, complete.length, 'the record takes the seq after the last complete entry');
    assert.equal(record.prev, sha256Hex(Buffer.from(complete.at(-1)!)), 'and chains to it, not to the fragment');
    assert.deepEqual(record.torn, { lines: 1, bytes: half.length, sha256: sha256Hex(Buffer.from(half)) });

    const report = verifyAuditLog(path, { brokerDid: broker.did });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.deepEqual(report.tornFragments, [{ line: complete.length + 1, lines: 1, bytes: half.length, recordLine: complete.length + 2 }]);
    assert.equal(report.entries, lines.length - 1);
    assert.equal(report.unrecordedTail, null);
  });

  test('Tampering: the recorded fragment can be neither edited nor removed afterwards', () => {
    const path = newLogPath();
    new TestAuditLog(path, broker).events(7).close();
    crashMidLine(path);
    new TestAuditLog(path, broker).events(3, 7).close();
    const lines = fileLines(path);
    const at = lines.findIndex((l) => l.startsWith('{"seq":999'));

    writeLines(path, lines.map((l, i) => (i === at ? l.replace('999', '998') : l)));
    assert.deepEqual(
      { line: verifyAuditLog(path).failure?.line, reason: verifyAuditLog(path).failure?.reason },
      { line: at + 1, reason: 'not JSON' },
    );

    writeLines(path, lines.filter((_, i) => i !== at));
    assert.deepEqual(
      { line: verifyAuditLog(path).failure?.line, reason: verifyAuditLog(path).failure?.reason },
      { line: at + 1, reason: 'deleted or reordered' },
    );
  });

  test('Crash: an entry written whole but for its "\\n" is simply ended and the chain continues from it', () => {
    const path = newLogPath();
    new TestAuditLog(path, broker).events(4).close();
    writeFileSync(path, readFileSync(path).subarray(0, -1));
    const reopened = new TestAuditLog(path, broker);
    assert.equal(reopened.destination.recoveredTornTail, null);
    reopened.events(2, 4).close();
    const report = verifyAuditLog(path, { brokerDid: broker.did });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.deepEqual(report.tornFragments, []);
  });

  test('Crash: a crash during recovery itself (two fragments) is recovered at the next open', () => {
    const path = newLogPath();
    new TestAuditLog(path, broker).events(4).close();
    crashMidLine(path);
    appendFileSync(path, '\n{"seq":5,"prev":"ab');
    new TestAuditLog(path, broker).events(2, 4).close();
    const report = verifyAuditLog(path, { brokerDid: broker.did });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.equal(report.tornFragments[0]?.lines, 2);
  });

  test('a torn first line of a fresh file is recorded with seq 0 and the genesis prev', () => {
    const path = newLogPath();
    writeFileSync(path, '{"seq":0,"prev":"000');
    new TestAuditLog(path, broker).events(1).close();
    const lines = fileLines(path);
    const first = JSON.parse(lines[1]!) as Record<string, unknown>;
    assert.deepEqual([first.event, first.seq, first.prev], ['audit.torn-line', 0, GENESIS_PREV]);
    assert.equal(verifyAuditLog(path, { brokerDid: broker.did }).ok, true);
  });

  test('a complete JSON line that is not an entry at the end is another writer: opening fails closed', () => {
    const path = newLogPath();
    new TestAuditLog(path, broker).events(2).close();
    appendFileSync(path, `${JSON.stringify({ level: 30, msg: 'written by someone else' })}\n`);
    assert.throws(() => ChainedDestination.open(path), UnchainedTailError);
  });

  test('writes after close throw instead of being dropped', () => {
    const destination = ChainedDestination.open(newLogPath());
    destination.close();
    assert.throws(() => destination.write('{"level":30}\n'), /closed/);
  });

  test('Fork: a second writer on the same audit.log is refused while the first holds it, and admitted after it closes', () => {
    const path = newLogPath();
    const first = ChainedDestination.open(path);
    assert.throws(() => ChainedDestination.open(path), AuditLogLockedError);
    first.close();
    assert.equal(existsSync(`${path}.lock`), false, 'close releases the lock');
    ChainedDestination.open(path).close();
  });

  test('a lock left by a process that is gone (a crash, a reboot) is taken over', () => {
    const path = newLogPath();
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    for (const owner of [{ pid: 0x7ffffff0, boot }, { pid: process.ppid, boot: 'another-boot' }, 'torn']) {
      writeFileSync(`${path}.lock`, typeof owner === 'string' ? owner : JSON.stringify(owner));
      ChainedDestination.open(path).close();
    }
  });
});
