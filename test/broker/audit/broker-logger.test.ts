// createBrokerLogger as the broker uses it: audit.log in the data dir, checkpoints by count, time and shutdown,
// and redaction of secrets before any line is written.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { closeBrokerLogger, createBrokerLogger } from '../../../broker/log';
import { REDACTED_FIELDS } from '../../../core/log/redaction';
import { verifyAuditLog } from '../../../broker/audit/verify-audit-log';
import { TempDirs, TestAuditLog, brokerIdentity, parsedLines } from './support';

const dirs = new TempDirs();
after(() => dirs.removeAll());

const broker = brokerIdentity();
const checkpointsIn = (path: string) => parsedLines(path).filter((l) => l.event === 'audit.checkpoint');

describe('broker logger and audit checkpoints', () => {
  test('createBrokerLogger writes a verifying audit.log, closed by a shutdown checkpoint', () => {
    const dir = dirs.make();
    const log = createBrokerLogger(dir, broker, 'info', { everyLines: 4, everyMs: 60_000 });
    for (let i = 0; i < 10; i++) log.child({ transport: 'test' }).info({ event: 'registration.pending', n: i }, 'pending');
    closeBrokerLogger(log);
    const path = join(dir, 'audit.log');
    const report = verifyAuditLog(path, { brokerDid: broker.did });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.deepEqual(checkpointsIn(path).map((c) => c.reason), ['start', 'lines', 'lines', 'shutdown']);
    assert.equal(parsedLines(path).at(-1)?.reason, 'shutdown');
    assert.equal(report.unprotectedEntries, 0);
  });

  test('a checkpoint every N entries covers exactly the N entries before it', () => {
    const path = join(dirs.make(), 'audit.log');
    const log = new TestAuditLog(path, broker, { everyLines: 10, everyMs: 60_000 }).events(25);
    log.close();
    assert.deepEqual(
      checkpointsIn(path).map((c) => [c.seq, c.reason]),
      [[10, 'lines'], [21, 'lines'], [27, 'shutdown']],
    );
  });

  test('a checkpoint at least every interval while there are new entries, none while quiet', async () => {
    const path = join(dirs.make(), 'audit.log');
    const log = new TestAuditLog(path, broker, { everyLines: 1000, everyMs: 40 }).events(1);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(checkpointsIn(path).map((c) => c.reason), ['interval'], 'one checkpoint for one new entry, then quiet');
    log.events(1, 1);
    await new Promise((r) => setTimeout(r, 200));
    log.close();
    assert.deepEqual(checkpointsIn(path).map((c) => c.reason), ['interval', 'interval', 'shutdown']);
    assert.equal(verifyAuditLog(path, { brokerDid: broker.did }).ok, true);
  });

  test('a broker logging at warn still writes its checkpoints', () => {
    const dir = dirs.make();
    const log = createBrokerLogger(dir, broker, 'error', { everyLines: 2, everyMs: 60_000 });
    log.info({ event: 'not-written' }, 'below the level');
    for (let i = 0; i < 4; i++) log.error({ event: 'rpc.error', n: i }, 'failure');
    closeBrokerLogger(log);
    const path = join(dir, 'audit.log');
    assert.deepEqual(parsedLines(path).map((l) => l.event), ['audit.checkpoint', 'rpc.error', 'rpc.error', 'audit.checkpoint', 'rpc.error', 'rpc.error', 'audit.checkpoint', 'audit.checkpoint']);
    assert.equal(verifyAuditLog(path, { brokerDid: broker.did }).ok, true);
  });

  test('Leak: secrets, keys, tokens, passwords and invitation tokens never reach audit.log', () => {
    const dir = dirs.make();
    const log = createBrokerLogger(dir, broker, 'debug');
    const value = () => `leak-${randomBytes(8).toString('hex')}`;
    const planted: string[] = [];
    const plant = () => {
      const v = value();
      planted.push(v);
      return v;
    };
    const fields = Object.fromEntries(REDACTED_FIELDS.filter((f) => !f.includes('.')).map((f) => [f, plant()]));
    log.info(
      {
        event: 'test.leak',
        ...fields,
        nested: { secret: plant(), privateKey: plant(), token: plant(), deeper: { password: plant(), key: plant(), invitationToken: plant() } },
        metadata: { name: 'alice', invitation: plant() },
        user: { metadata: { invitation: plant() } },
        identity: broker,
      },
      'an event carrying secrets',
    );
    log.child({ token: plant(), session: { secret: plant() } }).warn({ event: 'test.leak-bindings' }, 'bindings too');
    closeBrokerLogger(log);
    const text = readFileSync(join(dir, 'audit.log'), 'utf8');
    for (const v of planted) assert.ok(!text.includes(v), `${v} reached audit.log`);
    const secret = Buffer.from(broker.exportSecret());
    for (const rendering of [secret.toString('base64'), secret.toString('hex'), secret.subarray(9, 41).toString('base64')]) {
      assert.ok(!text.includes(rendering), 'the broker secret reached audit.log');
    }
    const line = parsedLines(join(dir, 'audit.log')).find((l) => l.event === 'test.leak')!;
    assert.equal(line.password, '[redacted]');
    assert.equal((line.identity as { did?: string }).did, broker.did, 'an identity logs as its DID only');
    assert.equal(verifyAuditLog(join(dir, 'audit.log'), { brokerDid: broker.did }).ok, true);
  });
});
