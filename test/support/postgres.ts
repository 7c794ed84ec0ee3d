// A real PostgreSQL server per test file, on 127.0.0.1 and a unix socket in its own temp dir (../shared/design
// testing: real engines, loopback only, every process killed by pid). Debian's postgresql package (npm test
// installs it). Run as root (CI), the server runs as the `postgres` user: PostgreSQL refuses to run as root.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port';
import { waitFor } from './processes';
import { exitedWithin } from './exited-within';

const BIN = process.env.VAULTYSCLAW_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresServer {
  readonly port: number;
  /** The superuser's URL on the maintenance database (user postgres, no password: trust on loopback). */
  readonly adminUrl: string;
  /** A fresh, empty database of its own on this server; its URL (user postgres, no password: trust on loopback). */
  createDatabase(): Promise<string>;
  /** Shuts the server down (fast shutdown, by pid), keeping its data: what a client sees when PostgreSQL goes away. */
  halt(): Promise<void>;
  /** Starts it again on the same data directory and port, and waits until it accepts connections. */
  resume(): Promise<void>;
  /**
   * Stops every process of the server (SIGSTOP: the postmaster and its backends) without closing a connection: what a
   * client sees when PostgreSQL stalls (a storage hiccup, a lock, a paused VM). Queries wait; nothing fails.
   */
  freeze(): void;
  /** Lets a frozen server go on (SIGCONT): the queries that waited are answered. */
  thaw(): void;
  /** Stops the server (by pid: immediate shutdown, then SIGKILL if it lingers) and removes its directory. */
  stop(): Promise<void>;
}

/** The uid and gid PostgreSQL runs as: `postgres` when we are root, else ourselves. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string): number => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8', timeout: 5_000 });
    if (r.status !== 0) throw new Error('running as root needs a `postgres` user to run PostgreSQL as (apt-get install postgresql)');
    return Number(r.stdout.trim());
  };
  return { uid: id('-u'), gid: id('-g') };
}

export interface PostgresServerOptions {
  /** Flush commits to disk as a production server does (default off: a test's database need not survive a power loss). */
  fsync?: boolean;
  /** Serve TLS with this PEM certificate and key (test-pki.ts's), besides plain connections. */
  tls?: { cert: string; key: string };
}

export async function startPostgres(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'vc-pg-'));
  const data = join(dir, 'data');
  let server: ChildProcess | undefined;
  const output: string[] = [];
  const stop = async (): Promise<void> => {
    if (server && server.exitCode === null && server.signalCode === null) {
      // SIGQUIT: immediate shutdown, the postmaster takes its backends down with it (SIGKILL would orphan them).
      server.kill('SIGQUIT');
      if (!(await exitedWithin(server, 10_000))) {
        server.kill('SIGKILL');
        await exitedWithin(server, 5_000);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  /** The postmaster and every backend it forked (they are its children), signalled one by one. */
  const signalAll = (signal: NodeJS.Signals): void => {
    const pid = server?.pid;
    if (pid === undefined || server!.exitCode !== null || server!.signalCode !== null) throw new Error('PostgreSQL is not running');
    // From /proc (a process's parent is the 4th field of its stat, after its name in parentheses).
    const children = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((entry) => {
        try {
          return Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]) === pid;
        } catch {
          return false; // gone meanwhile
        }
      })
      .map(Number);
    for (const each of [pid, ...children]) process.kill(each, signal);
  };
  try {
    if (user) chownSync(dir, user.uid, user.gid);
    // --no-sync: initdb's own fsyncs cost seconds, for files the server flushes itself when it runs with fsync.
    const init = spawnSync(join(BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'], {
      ...user,
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (init.status !== 0) throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stderr}`);
    const tlsArgs: string[] = [];
    if (options.tls) {
      // The server reads them as its own user, and refuses a key others may read.
      for (const [name, from] of [['server.crt', options.tls.cert], ['server.key', options.tls.key]] as const) {
        copyFileSync(from, join(dir, name));
        chmodSync(join(dir, name), 0o600);
        if (user) chownSync(join(dir, name), user.uid, user.gid);
      }
      tlsArgs.push('-c', 'ssl=on', '-c', `ssl_cert_file=${join(dir, 'server.crt')}`, '-c', `ssl_key_file=${join(dir, 'server.key')}`);
    }
    const port = await freePort();
    const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const launch = async (): Promise<void> => {
      // Our own child (not pg_ctl's daemon): its pid is the postmaster's, and Node reaps it.
      const child = spawn(
        join(BIN, 'postgres'),
        ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`, '-c', `fsync=${options.fsync ? 'on' : 'off'}`, ...tlsArgs],
        { ...user, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      server = child;
      // A spawn that fails (the binary missing) is said by the wait below, not thrown from an event.
      child.once('error', (err) => output.push(String(err)));
      child.stderr!.setEncoding('utf8');
      // Always drained (a full pipe would stop the server), kept only up to a bound for the error below.
      child.stderr!.on('data', (chunk: string) => output.length < 200 && output.push(chunk));
      await waitFor(
        'PostgreSQL to accept connections',
        async () => {
          if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited (${child.exitCode ?? child.signalCode}): ${output.join('')}`);
          const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 2_000 });
          try {
            await client.connect();
            await client.query('SELECT 1');
            return true;
          } catch {
            return false;
          } finally {
            await client.end().catch(() => undefined);
          }
        },
        30_000,
        50,
      );
    };
    await launch();
    let databases = 0;
    return {
      port,
      adminUrl: admin,
      async createDatabase() {
        const name = `t${++databases}`;
        const client = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 5_000 });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        return `postgres://postgres@127.0.0.1:${port}/${name}`;
      },
      async halt() {
        const running = server;
        if (!running || running.exitCode !== null || running.signalCode !== null) return;
        // SIGINT: fast shutdown (backends ended, a checkpoint written), as `pg_ctl stop -m fast` does.
        running.kill('SIGINT');
        if (!(await exitedWithin(running, 15_000))) {
          running.kill('SIGKILL');
          await exitedWithin(running, 5_000);
        }
      },
      resume: launch,
      freeze: () => signalAll('SIGSTOP'),
      thaw: () => signalAll('SIGCONT'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
