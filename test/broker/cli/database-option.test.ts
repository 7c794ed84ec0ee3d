// `broker start --database`: PostgreSQL's URL (from the flag, VAULTYSCLAW_DATABASE_URL or a 0600 file) holds the
// password to every intent's parameters and output; no start, refused or not, may show it: not on stdout
// (--audit-stdout), stderr, nor in the audit log. A PostgreSQL that cannot be reached is one sentence naming
// host:port/db, and the broker exits non-zero without creating a broker.db.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { POSTGRES_MIGRATIONS } from '../../../broker/store/sql/postgres-schema';
import { freePort } from '../../support/free-port';
import { startPostgres } from '../../support/postgres';
import { ROOT, removeDirs, tempDir, waitFor } from '../../support/processes';

const BROKER = join(ROOT, 'dist', 'broker.js');
const PASSWORD = 'Hunter2-db-S3cret';
const dirs: string[] = [];
after(() => removeDirs(...dirs));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  dataDir: string;
}

/** `broker start` in a fresh data directory, until it exits or `until` holds (then killed by pid); bounded. */
async function start(args: string[], env: Record<string, string> = {}, until?: () => Promise<boolean>): Promise<Run> {
  const dataDir = tempDir('db-option');
  dirs.push(dataDir);
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'VAULTYSCLAW_DATABASE_URL'));
  const child = spawn(process.execPath, [BROKER, 'start', '--data-dir', dataDir, '--port', '0', '--audit-stdout', ...args], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor('the broker to exit or reach its point', async () => child.exitCode !== null || child.signalCode !== null || (until ? await until() : false), 30_000, 50);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  return { status: await exited, stdout, stderr, dataDir };
}

function assertNoPassword(run: Run): void {
  const auditLog = join(run.dataDir, 'audit.log');
  const places = { stdout: run.stdout, stderr: run.stderr, 'audit.log': existsSync(auditLog) ? readFileSync(auditLog, 'utf8') : '' };
  for (const [where, text] of Object.entries(places)) {
    for (const spelling of [PASSWORD, encodeURIComponent(PASSWORD), 'Hunter2']) assert.ok(!text.includes(spelling), `${where} shows the password:\n${text}`);
  }
}

const urlAt = (port: number, db: string) => `postgres://broker:${PASSWORD}@127.0.0.1:${port}/${db}`;

test('an unreachable PostgreSQL, from the flag, the environment or a 0600 file: exit 1, one sentence naming host:port/db, no password anywhere, no broker.db', async () => {
  const port = await freePort();
  const file = join(tempDir('db-url'), 'database.url');
  dirs.push(join(file, '..'));
  writeFileSync(file, `${urlAt(port, 'vaultysclaw')}\n`, { mode: 0o600 });
  for (const [how, args, env] of [
    ['--database', ['--database', urlAt(port, 'vaultysclaw')], {}],
    ['VAULTYSCLAW_DATABASE_URL', [], { VAULTYSCLAW_DATABASE_URL: urlAt(port, 'vaultysclaw') }],
    ['--database-url-file', ['--database-url-file', file], {}],
  ] as const) {
    const run = await start([...args], { ...env });
    assert.equal(run.status, 1, `${how}: ${run.stderr}`);
    const said = run.stderr.split('\n').filter((l) => l && !l.startsWith('{'));
    assert.equal(said.length, 1, `${how}: ${run.stderr}`);
    assert.match(said[0]!, new RegExp(`^broker: cannot open the broker's database, PostgreSQL at 127\\.0\\.0\\.1:${port}/vaultysclaw: .*ECONNREFUSED`), how);
    assertNoPassword(run);
    assert.equal(existsSync(join(run.dataDir, 'broker.db')), false, `${how}: a broker.db was created`);
  }
});

test('--database wins over VAULTYSCLAW_DATABASE_URL', async () => {
  const port = await freePort();
  const run = await start(['--database', urlAt(port, 'from_flag')], { VAULTYSCLAW_DATABASE_URL: urlAt(port, 'from_env') });
  assert.equal(run.status, 1);
  assert.match(run.stderr, new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${port}/from_flag:`));
  assert.doesNotMatch(run.stderr, /from_env/);
});

test('refused before anything is opened, without quoting the URL: a URL file others may read, a URL that is not postgres://, a CA with sslmode=disable, contradictory flags', async () => {
  const port = await freePort();
  const dir = tempDir('db-url');
  dirs.push(dir);
  const shared = join(dir, 'shared.url');
  writeFileSync(shared, urlAt(port, 'vaultysclaw'));
  chmodSync(shared, 0o640);
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, 'not used: refused before it is read by TLS');
  const cases: [string[], RegExp][] = [
    [['--database-url-file', shared], /^broker: --database-url-file \S+ is accessible by group or others \(mode 640\); run chmod 600 on it$/m],
    [['--database', `mysql://broker:${PASSWORD}@127.0.0.1:${port}/db`], /^broker: --database must be a postgres:\/\/ URL$/m],
    [['--database', `postgres://broker:${PASSWORD}@[127.0.0.1:${port}/db`], /^broker: --database is not a URL/m],
    [['--database', `${urlAt(port, 'vaultysclaw')}?sslmode=disable`, '--database-ca', ca], /^broker: --database-ca goes with a verifying sslmode, not sslmode=disable$/m],
    [['--database-ca', ca], /^broker: --database-ca goes with --database or --database-url-file$/m],
    [['--database', urlAt(port, 'vaultysclaw'), '--database-url-file', shared], /^broker: give the database as --database \(or VAULTYSCLAW_DATABASE_URL\) or as --database-url-file, not both$/m],
  ];
  for (const [args, refusal] of cases) {
    const run = await start(args);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, refusal);
    assertNoPassword(run);
  }
});

test('a reachable PostgreSQL is migrated by the broker, which keeps no broker.db; the password is said nowhere', async () => {
  const server = await startPostgres();
  // Trust authentication on loopback ignores the password: it is there to be looked for in what the broker says.
  const url = (await server.createDatabase()).replace('postgres@', `postgres:${PASSWORD}@`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  after(async () => {
    await client.end();
    await server.stop();
  });
  const migrated = async () => {
    const tables = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'schema_migrations'");
    if (tables.rows[0]!.n === 0) return false;
    return (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations')).rows[0]!.n === POSTGRES_MIGRATIONS.length;
  };
  const run = await start(['--database', url], {}, migrated);
  assert.ok(await migrated(), `the database was not migrated:\n${run.stderr}`);
  assert.equal(existsSync(join(run.dataDir, 'broker.db')), false);
  assertNoPassword(run);
});
