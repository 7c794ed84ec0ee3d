// /readyz of a real broker process (issue 21): it says the broker is unready, naming the check, BEFORE a write to
// audit.log fails (a failed write stops the broker with exit 70 by design, broker/log.ts), and ready again once
// the cause is gone. Made real, as root, three ways measured to work here: the log renamed away, the log made
// immutable (chattr +i: root cannot write it either), and the data directory's file system (a tmpfs) full.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { tempDir, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { testStorage } from '../support/test-storage';

exitIfHeldOpen();
const started = new Started();
const mounts: string[] = [];

after(async () => {
  await started.cleanup();
  for (const mount of mounts) spawnSync('umount', [mount]);
  for (const mount of mounts) rmSync(mount, { recursive: true, force: true });
});

async function readyz(base: string): Promise<{ status: number; body: { status: string; failed: string[]; checks: Record<string, string> } }> {
  const response = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: (await response.json()) as { status: string; failed: string[]; checks: Record<string, string> } };
}

async function brokerWithMetrics(dataDir?: string): Promise<{ broker: BrokerProcess; base: string }> {
  const broker = await started.broker({ ...(dataDir ? { dataDir } : {}), args: ['--metrics', '127.0.0.1:0'] });
  const base = String((await broker.log.waitFor('ops.listening')).url);
  assert.equal((await readyz(base)).status, 200);
  return { broker, base };
}

const run = (command: string, args: string[]) => {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
};

const alive = (broker: BrokerProcess) => assert.deepEqual([broker.child.exitCode, broker.child.signalCode], [null, null], 'the broker is still running');

describe('/readyz on a real broker', () => {
  test('audit.log renamed away: unready, naming audit-log; ready again once it is back', async () => {
    const { broker, base } = await brokerWithMetrics();
    const log = join(broker.dataDir, 'audit.log');
    renameSync(log, `${log}.moved`);
    try {
      const unready = await readyz(base);
      assert.equal(unready.status, 503);
      assert.deepEqual(unready.body.failed, ['audit-log']);
      assert.match(unready.body.checks['audit-log']!, /no file at its path/);
      assert.equal(unready.body.checks.database, 'ok');
      // Another file in its place is not the one the broker writes either.
      closeSync(openSync(log, 'a'));
      assert.match((await readyz(base)).body.checks['audit-log']!, /not the one the broker writes/);
      rmSync(log);
    } finally {
      renameSync(`${log}.moved`, log);
    }
    assert.equal((await readyz(base)).status, 200);
    alive(broker);
  });

  test('audit.log made immutable (chattr +i, which stops root too): unready before any write fails; ready again once cleared', async () => {
    const { broker, base } = await brokerWithMetrics();
    const log = join(broker.dataDir, 'audit.log');
    run('chattr', ['+i', log]);
    try {
      const unready = await readyz(base);
      assert.equal(unready.status, 503);
      assert.deepEqual(unready.body.failed, ['audit-log']);
      assert.match(unready.body.checks['audit-log']!, /not writable \(EPERM\)/);
    } finally {
      run('chattr', ['-i', log]);
    }
    assert.equal((await readyz(base)).status, 200);
    alive(broker);
  });

  test('the data directory on a full file system: database (when it is broker.db there) and audit log both unready; ready again once there is room', async () => {
    const mount = tempDir('readyz-tmpfs');
    run('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mount]);
    mounts.push(mount);
    const { broker, base } = await brokerWithMetrics(join(mount, 'data'));
    const filler = join(mount, 'filler');
    const fd = openSync(filler, 'w');
    try {
      const chunk = Buffer.alloc(64 * 1024);
      // Bounded: the tmpfs holds 8 MiB, so this ends in ENOSPC within 128 chunks and some.
      for (let i = 0; i < 1024; i++) writeSync(fd, chunk);
      assert.fail('the tmpfs never filled');
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', String(err));
    } finally {
      closeSync(fd);
    }
    const unready = await readyz(base);
    assert.equal(unready.status, 503);
    // On PostgreSQL (the second pass) the database is not in the data directory: only the audit log is short of room.
    assert.deepEqual(unready.body.failed, testStorage() === 'sqlite' ? ['database', 'audit-log'] : ['audit-log']);
    assert.match(unready.body.checks['audit-log']!, /file system is full/);
    rmSync(filler);
    assert.equal((await readyz(base)).status, 200);
    alive(broker);
  });
});
