// Issue 21: the checkpoint witness file (broker/audit/witness.ts) under a real audit log written through pino and the
// chained destination with real signed checkpoints, and `verify --witness` (witness-check.ts) against logs cut back
// the ways an intruder on the broker host would: to an earlier checkpoint, and cut then written on.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AUDIT_LOG_FILE } from '../../../broker/audit/chain';
import { describeReport, TRUNCATION_UNDETECTABLE, verifyAuditLog } from '../../../broker/audit/verify-audit-log';
import { CheckpointWitness } from '../../../broker/audit/witness';
import { readWitnesses } from '../../../broker/audit/witness-check';
import { TempDirs, TestAuditLog, brokerIdentity, fileLines, lineKinds, parsedLines, writeHonestLog, writeLines } from './support';

const dirs = new TempDirs();
after(() => dirs.removeAll());

const broker = brokerIdentity();
const nonEmpty = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);

/** An audit log of `events` events with a witness file beside it (checkpoints every 5 entries, a shutdown one). */
function witnessedLog(events = 23, witness = join(dirs.make(), 'witness.jsonl')): { path: string; witness: string; log: TestAuditLog } {
  const log = new TestAuditLog(join(dirs.make(), AUDIT_LOG_FILE), broker);
  new CheckpointWitness(witness, log.destination, log.log);
  log.events(events);
  return { path: log.path, witness, log };
}

/** A copy of `path` that ends with its line at 0-based `index`. */
function cutCopy(path: string, index: number): string {
  const cut = join(dirs.make(), AUDIT_LOG_FILE);
  writeLines(cut, fileLines(path).slice(0, index + 1));
  return cut;
}

describe('the witness file', () => {
  test('holds every checkpoint written after it started, byte for byte, the shutdown one last, 0600; nothing else', () => {
    const { path, witness, log } = witnessedLog();
    log.close();
    const lines = fileLines(path);
    const checkpoints = lineKinds(path).checkpoints.map((i) => lines[i]!);
    // The log's first checkpoint ('start' is not written by TestAuditLog) came after the witness started: all of them.
    assert.deepEqual(nonEmpty(witness), checkpoints);
    assert.equal(JSON.parse(nonEmpty(witness).at(-1)!).reason, 'shutdown');
    assert.equal(statSync(witness).mode & 0o777, 0o600);
  });

  test('one that cannot be written is audited once per failure streak, never stops the log, and says when it is written again', () => {
    const mount = join(dirs.make(), 'not-mounted-yet');
    const { path, witness, log } = witnessedLog(12, join(mount, 'witness.jsonl'));
    mkdirSync(mount);
    log.events(11, 12);
    log.close();
    const lines = parsedLines(path);
    const failed = lines.filter((l) => l.event === 'audit.witness-failed');
    assert.equal(failed.length, 1, 'once for the whole streak, not once per checkpoint');
    assert.equal(failed[0]!.file, witness);
    assert.match(String(failed[0]!.err), /ENOENT/);
    const recovered = lines.filter((l) => l.event === 'audit.witness-recovered');
    assert.equal(recovered.length, 1);
    // Every checkpoint before the one that went through fell in the streak.
    assert.equal(recovered[0]!.missed, lines.filter((l) => l.event === 'audit.checkpoint' && Number(l.seq) < Number(recovered[0]!.checkpointSeq)).length);
    assert.equal(nonEmpty(witness)[0], fileLines(path)[Number(recovered[0]!.checkpointSeq)], 'the checkpoint that recovered it is its first line');
    const report = verifyAuditLog(path, { brokerDid: broker.did, witness: readWitnesses([witness]) });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.equal(report.witness?.witnessedSeq, lines.at(-1)!.seq);
  });

  test('a witness failing at the shutdown checkpoint is said on stderr, not audited: the log still ends signed', () => {
    const mount = join(dirs.make(), 'mount');
    mkdirSync(mount);
    const { path, log } = witnessedLog(7, join(mount, 'gone', 'witness.jsonl'));
    log.events(3, 7);
    log.close();
    assert.equal(parsedLines(path).filter((l) => l.event === 'audit.witness-failed').length, 1);
    assert.deepEqual([parsedLines(path).at(-1)!.event, parsedLines(path).at(-1)!.reason], ['audit.checkpoint', 'shutdown']);
    assert.equal(verifyAuditLog(path, { brokerDid: broker.did }).ok, true);
  });
  test("starts with the checkpoint the log already ends with (a restarted broker's), once across restarts: a broker cut before its next checkpoint is still witnessed", () => {
    const path = join(dirs.make(), AUDIT_LOG_FILE);
    const witness = join(dirs.make(), 'witness.jsonl');
    const first = new TestAuditLog(path, broker);
    first.events(3);
    first.close();
    const shutdown = fileLines(path).at(-1)!;
    for (const run of [1, 2]) {
      const again = new TestAuditLog(path, broker);
      new CheckpointWitness(witness, again.destination, again.log);
      assert.equal(nonEmpty(witness).filter((l) => l === fileLines(path).at(-1)).length, 1, `run ${run}: the log's last checkpoint, once`);
      again.events(2, 10 * run);
      // Cut back to where it started: without that first witness line, nothing would show it.
      const cut = cutCopy(path, fileLines(path).length - 3);
      assert.equal(verifyAuditLog(cut, { brokerDid: broker.did, allowUnprotectedTail: true, witness: readWitnesses([witness]) }).ok, true, 'up to the witnessed checkpoint, the log is whole');
      again.close();
    }
    assert.equal(nonEmpty(witness)[0], shutdown);
    const cutBeforeIt = cutCopy(path, fileLines(path).indexOf(shutdown) - 1);
    const report = verifyAuditLog(cutBeforeIt, { brokerDid: broker.did, allowUnprotectedTail: true, witness: readWitnesses([witness]) });
    assert.equal(report.failure?.reason, 'truncated');
  });
});

describe('verify --witness', () => {
  test('a log cut back to an earlier checkpoint verifies alone (saying truncation is undetectable) and fails "truncated" with the witness, naming the seq and the witness line', () => {
    const { path, witness, log } = witnessedLog();
    log.close();
    const { checkpoints } = lineKinds(path);
    const cut = cutCopy(path, checkpoints[1]!);
    const alone = verifyAuditLog(cut, { brokerDid: broker.did });
    assert.equal(alone.ok, true);
    assert.match(describeReport(cut, alone), new RegExp(TRUNCATION_UNDETECTABLE));
    const lastSeq = Number(parsedLines(path).at(-1)!.seq);
    const report = verifyAuditLog(cut, { brokerDid: broker.did, witness: readWitnesses([witness]) });
    assert.equal(report.ok, false);
    assert.deepEqual([report.failure!.reason, report.failure!.seq], ['truncated', lastSeq]);
    assert.match(report.failure!.detail, new RegExp(`${witness}:${checkpoints.length} witnessed the checkpoint at seq ${lastSeq}.*the log ends at seq ${checkpoints[1]}`));
    assert.match(describeReport(cut, report), new RegExp(`TAMPERED at line ${checkpoints[1]! + 1} \\(seq ${lastSeq}\\): truncated`));
  });

  test('a log cut and written on from there (the broker restarted on it) holds another entry at the witnessed seq: "truncated"', () => {
    const { path, witness, log } = witnessedLog();
    log.close();
    const { checkpoints } = lineKinds(path);
    writeLines(path, fileLines(path).slice(0, checkpoints[1]! + 1));
    new TestAuditLog(path, broker).events(30, 100).close();
    const last = Number(JSON.parse(nonEmpty(witness).at(-1)!).seq);
    const report = verifyAuditLog(path, { brokerDid: broker.did, witness: readWitnesses([witness]) });
    assert.equal(report.ok, false);
    assert.deepEqual([report.failure!.reason, report.failure!.seq, report.failure!.line], ['truncated', last, last + 1]);
    assert.match(report.failure!.detail, /holds another entry at seq \d+: it was cut back before it and written on from there/);
  });

  test('any JSON-lines file serves: a full copy of the log (a SIEM export) is a witness, its other lines ignored', () => {
    const path = writeHonestLog(dirs.make(), broker);
    const siem = join(dirs.make(), 'siem-export.jsonl');
    writeFileSync(siem, `not json\n${readFileSync(path, 'utf8')}{"json":"but not an entry"}\n`);
    const cut = cutCopy(path, lineKinds(path).checkpoints[2]!);
    const report = verifyAuditLog(cut, { witness: readWitnesses([siem]) });
    assert.equal(report.failure?.reason, 'truncated');
    assert.equal(verifyAuditLog(path, { witness: readWitnesses([siem]) }).witness?.witnessedSeq, fileLines(path).length - 1);
  });

  test('witness lines signed by another key, or with a tampered signature, are reported and never trusted', () => {
    const path = writeHonestLog(dirs.make(), broker);
    const impostor = writeHonestLog(dirs.make(), brokerIdentity(), 60);
    const honestWitness = fileLines(path).at(-1)!;
    const tampered = JSON.parse(honestWitness) as Record<string, string>;
    tampered.signature = `${tampered.signature!.startsWith('A') ? 'B' : 'A'}${tampered.signature!.slice(1)}`;
    const file = join(dirs.make(), 'witness.jsonl');
    // The impostor's checkpoints reach far beyond this log's end: trusted, they would call it truncated.
    writeFileSync(file, `${[...fileLines(impostor).filter((l) => l.includes('audit.checkpoint')), JSON.stringify(tampered)].join('\n')}\n`);
    const report = verifyAuditLog(path, { brokerDid: broker.did, witness: readWitnesses([file]) });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.equal(report.witness?.witnessedSeq, null);
    assert.equal(report.witness?.trusted, 0);
    assert.ok(report.witness!.refused.some((r) => /which signs none of this log's checkpoints: not trusted/.test(r.detail)));
    assert.ok(report.witness!.refused.some((r) => /the signature does not verify/.test(r.detail)));
    assert.match(describeReport(path, report), /NOT TRUSTED/);
  });
});
