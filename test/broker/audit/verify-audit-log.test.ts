// Tampering with a real audit.log (written through pino and the chained destination, checkpoints signed by a
// real broker identity), and the verifier's verdict: each attack names the first bad line and what is wrong.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { signTagged } from '../../../core/identity';
import { checkpointBody } from '../../../broker/audit/chain';
import { describeReport, verifyAuditLog } from '../../../broker/audit/verify-audit-log';
import { TempDirs, brokerIdentity, fileLines, lineKinds, writeHonestLog, writeLines } from './support';

const dirs = new TempDirs();
after(() => dirs.removeAll());

const broker = brokerIdentity();

/** A fresh honest log (23 events, a checkpoint every 5 entries, a shutdown checkpoint). */
function honestLog(): string {
  return writeHonestLog(dirs.make(), broker);
}

/** An ordinary line well inside the log, with ordinary lines on both sides of it. */
function middleOrdinary(path: string): number {
  const { ordinary } = lineKinds(path);
  const index = ordinary.find((i, k) => i > 8 && ordinary[k + 1] === i + 1 && ordinary[k - 1] === i - 1);
  assert.ok(index !== undefined);
  return index;
}

describe('audit log verification', () => {
  test('an honest log verifies, pinned to the broker DID, with every count', () => {
    const path = honestLog();
    const report = verifyAuditLog(path, { brokerDid: broker.did });
    const lines = fileLines(path);
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.equal(report.lines, lines.length);
    assert.equal(report.entries, lines.length);
    // 23 events, a checkpoint after every 5 of them (4), and the shutdown checkpoint.
    assert.equal(report.checkpoints, 5);
    assert.equal(report.brokerDid, broker.did);
    assert.equal(report.pinned, true);
    assert.deepEqual(report.lastCheckpoint, { line: lines.length, seq: lines.length - 1 });
    assert.equal(report.unprotectedEntries, 0);
    assert.match(describeReport(path, report), /OK: 28 lines, 28 chained entries, 5 signed checkpoints/);
  });

  test('without --broker-did it trusts the first checkpoint and says the result is unpinned', () => {
    const path = honestLog();
    const report = verifyAuditLog(path);
    assert.equal(report.ok, true);
    assert.equal(report.pinned, false);
    assert.equal(report.brokerDid, broker.did);
    assert.match(describeReport(path, report), /UNPINNED/);
  });

  test('an edited middle line (one character) is named as edited', () => {
    const path = honestLog();
    const lines = fileLines(path);
    const index = middleOrdinary(path);
    lines[index] = lines[index]!.replace(/event number (\d+)/, (_, n: string) => `event number ${Number(n) + 1}`);
    writeLines(path, lines);
    const report = verifyAuditLog(path, { brokerDid: broker.did });
    assert.equal(report.ok, false);
    assert.deepEqual({ ...report.failure, detail: undefined }, { line: index + 1, seq: index, reason: 'edited', detail: undefined });
    assert.match(describeReport(path, report), new RegExp(`TAMPERED at line ${index + 1} \\(seq ${index}\\): edited`));
  });

  test('an edited seq number is an edit of that line, not a deletion', () => {
    const path = honestLog();
    const lines = fileLines(path);
    const index = middleOrdinary(path);
    lines[index] = lines[index]!.replace(`"seq":${index},`, `"seq":${index + 7},`);
    writeLines(path, lines);
    assert.deepEqual(
      { line: verifyAuditLog(path).failure?.line, reason: verifyAuditLog(path).failure?.reason },
      { line: index + 1, reason: 'edited' },
    );
  });

  test('a deleted line is detected at the line after the gap', () => {
    const path = honestLog();
    const lines = fileLines(path);
    const index = middleOrdinary(path);
    lines.splice(index, 1);
    writeLines(path, lines);
    const failure = verifyAuditLog(path, { brokerDid: broker.did }).failure;
    assert.deepEqual({ line: failure?.line, seq: failure?.seq, reason: failure?.reason }, { line: index + 1, seq: index + 1, reason: 'deleted or reordered' });
  });

  test('deleting the first line is detected at line 1', () => {
    const path = honestLog();
    writeLines(path, fileLines(path).slice(1));
    assert.equal(verifyAuditLog(path).failure?.line, 1);
    assert.equal(verifyAuditLog(path).failure?.reason, 'deleted or reordered');
  });

  test('two swapped lines are detected at the first swapped position', () => {
    const path = honestLog();
    const lines = fileLines(path);
    const index = middleOrdinary(path);
    [lines[index], lines[index + 1]] = [lines[index + 1]!, lines[index]!];
    writeLines(path, lines);
    const failure = verifyAuditLog(path, { brokerDid: broker.did }).failure;
    assert.deepEqual({ line: failure?.line, seq: failure?.seq, reason: failure?.reason }, { line: index + 1, seq: index + 1, reason: 'deleted or reordered' });
  });

  test('a line that is not JSON is named', () => {
    const path = honestLog();
    const lines = fileLines(path);
    const index = middleOrdinary(path);
    lines[index] = lines[index]!.slice(0, -1);
    writeLines(path, lines);
    assert.deepEqual(
      { line: verifyAuditLog(path).failure?.line, reason: verifyAuditLog(path).failure?.reason },
      { line: index + 1, reason: 'not JSON' },
    );
  });

  test('an inserted JSON line without chain fields is named', () => {
    const path = honestLog();
    const lines = fileLines(path);
    lines.splice(10, 0, JSON.stringify({ level: 30, event: 'registration.approved', did: 'did:vaultys:00' }));
    writeLines(path, lines);
    assert.deepEqual(
      { line: verifyAuditLog(path).failure?.line, reason: verifyAuditLog(path).failure?.reason },
      { line: 11, reason: 'not a chain entry' },
    );
  });

  test('a JSON line without chain fields at the very end is not taken for a crash fragment', () => {
    const path = honestLog();
    const lines = fileLines(path);
    writeLines(path, [...lines, JSON.stringify({ level: 30, event: 'agent.revoked' })]);
    assert.deepEqual(
      { line: verifyAuditLog(path).failure?.line, reason: verifyAuditLog(path).failure?.reason },
      { line: lines.length + 1, reason: 'not a chain entry' },
    );
  });

  test('Forgery: a checkpoint re-signed by another key is a bad checkpoint signature, pinned or not', () => {
    const path = honestLog();
    const lines = fileLines(path);
    const index = lineKinds(path).checkpoints[1]!;
    const attacker = brokerIdentity();
    const line = JSON.parse(lines[index]!) as Record<string, unknown>;
    const signature = signTagged(attacker, 'vaultysclaw/audit-checkpoint/v1', checkpointBody(line.seq as number, line.head as string, attacker.did));
    lines[index] = JSON.stringify({ ...line, broker: attacker.did, brokerId: attacker.id.toBase64(), signature: Buffer.from(signature).toString('base64') });
    writeLines(path, lines);
    for (const options of [{ brokerDid: broker.did }, {}]) {
      const failure = verifyAuditLog(path, options).failure;
      assert.deepEqual({ line: failure?.line, reason: failure?.reason }, { line: index + 1, reason: 'bad checkpoint signature' });
      assert.match(failure?.detail ?? '', new RegExp(`signed by ${attacker.did}`));
    }
  });

  test('Forgery: a checkpoint that keeps the broker id but carries another signature does not verify', () => {
    const path = honestLog();
    const lines = fileLines(path);
    const index = lineKinds(path).checkpoints[0]!;
    const line = JSON.parse(lines[index]!) as Record<string, unknown>;
    const attacker = brokerIdentity();
    const signature = signTagged(attacker, 'vaultysclaw/audit-checkpoint/v1', checkpointBody(line.seq as number, line.head as string, broker.did));
    lines[index] = JSON.stringify({ ...line, signature: Buffer.from(signature).toString('base64') });
    writeLines(path, lines);
    const failure = verifyAuditLog(path, { brokerDid: broker.did }).failure;
    assert.deepEqual({ line: failure?.line, reason: failure?.reason }, { line: index + 1, reason: 'bad checkpoint signature' });
  });

  test('Forgery: a whole log rewritten and re-signed with another key is refused when pinned (and only flagged unpinned without it)', () => {
    const attacker = brokerIdentity();
    const path = writeHonestLog(dirs.make(), attacker);
    const pinned = verifyAuditLog(path, { brokerDid: broker.did });
    assert.deepEqual({ line: pinned.failure?.line, reason: pinned.failure?.reason }, { line: lineKinds(path).checkpoints[0]! + 1, reason: 'bad checkpoint signature' });
    const unpinned = verifyAuditLog(path);
    assert.equal(unpinned.ok, true);
    assert.equal(unpinned.pinned, false);
    assert.equal(unpinned.brokerDid, attacker.did);
  });

  test('limit: cutting the unsigned tail after the last checkpoint is not detectable, and the report counts that tail', () => {
    const path = writeHonestLog(dirs.make(), broker, 23);
    const lines = fileLines(path);
    // Drop the shutdown checkpoint and the three events before it: what is left ends at the checkpoint after event 19.
    writeLines(path, lines.slice(0, -4));
    const cut = verifyAuditLog(path, { brokerDid: broker.did });
    assert.equal(cut.ok, true);
    assert.equal(cut.unprotectedEntries, 0);
    // Now keep two entries after that checkpoint: they verify, counted as unprotected.
    writeLines(path, lines.slice(0, -2));
    assert.equal(verifyAuditLog(path, { brokerDid: broker.did }).unprotectedEntries, 2);
  });

  test('an empty log verifies, and the verdict says nothing in it is signed', () => {
    const path = join(dirs.make(), 'audit.log');
    writeFileSync(path, '');
    const report = verifyAuditLog(path);
    assert.deepEqual({ ok: report.ok, lines: report.lines, checkpoints: report.checkpoints }, { ok: true, lines: 0, checkpoints: 0 });
    assert.match(describeReport(path, report), /no checkpoint: .* nothing in it is signed/);
  });
});
