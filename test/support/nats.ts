// A real nats-server per test file, on 127.0.0.1 and an OS-picked port, configured by a file in its own temp dir
// (../shared/design/testing.md: real engines, loopback only, every process killed by pid). Debian's nats-server
// package (npm test installs it).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';
import { waitFor } from './processes';
import { exitedWithin } from './exited-within';

const BIN = process.env.VAULTYSCLAW_NATS_BIN ?? '/usr/sbin/nats-server';
const MiB = 1024 * 1024;

export interface NatsServerOptions {
  /** The server's max_payload in bytes (default 4 MiB: BUDGETS.clusterMessageBytes fits). */
  maxPayload?: number;
  /** Serve TLS only, with this PEM certificate and key (test-pki.ts's). */
  tls?: { cert: string; key: string };
  /** Require this user and password (plain, in the config file). */
  user?: { name: string; password: string };
  /** Require this token. */
  token?: string;
}

export interface NatsServer {
  /** nats://127.0.0.1:<port> (tls:// when it serves TLS). */
  readonly url: string;
  readonly port: number;
  /** The running server's pid (a new one after restart). */
  readonly pid: number;
  /** Stops it (SIGTERM by pid, then SIGKILL if it lingers); the config stays for restart(). */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL by pid): what a client sees when the host dies. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and config (stopping it first if it runs), and waits until it is ready. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that stops answering without closing its sockets. */
  pause(): void;
  resume(): void;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

function configText(port: number, options: NatsServerOptions): string {
  const lines = [`listen: "127.0.0.1:${port}"`, `max_payload: ${options.maxPayload ?? 4 * MiB}`];
  if (options.tls) lines.push(`tls { cert_file: ${JSON.stringify(options.tls.cert)}, key_file: ${JSON.stringify(options.tls.key)} }`);
  if (options.user) lines.push(`authorization { user: ${JSON.stringify(options.user.name)}, password: ${JSON.stringify(options.user.password)} }`);
  if (options.token) lines.push(`authorization { token: ${JSON.stringify(options.token)} }`);
  return `${lines.join('\n')}\n`;
}

export async function startNats(options: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'vc-nats-'));
  const config = join(dir, 'nats.conf');
  let server: ChildProcess | undefined;
  const output: string[] = [];
  const running = (): ChildProcess | undefined => (server && server.exitCode === null && server.signalCode === null ? server : undefined);
  const stop = async (): Promise<void> => {
    const child = running();
    if (!child) return;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    if (!(await exitedWithin(child, 10_000))) {
      child.kill('SIGKILL');
      await exitedWithin(child, 5_000);
    }
  };
  const kill9 = async (): Promise<void> => {
    const child = running();
    if (!child) return;
    child.kill('SIGKILL');
    await exitedWithin(child, 5_000);
  };
  try {
    const port = await freePort();
    writeFileSync(config, configText(port, options), { mode: 0o600 });
    chmodSync(config, 0o600);
    const launch = async (): Promise<void> => {
      await stop();
      output.length = 0;
      let ready = false;
      const child = spawn(BIN, ['-c', config], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      server = child;
      // A spawn that fails (the binary missing) is said by the wait below, not thrown from an event.
      child.once('error', (err) => output.push(String(err)));
      child.stderr!.setEncoding('utf8');
      // Always drained (a full pipe would stop the server), kept only up to a bound for the error below.
      child.stderr!.on('data', (chunk: string) => {
        if (chunk.includes('Server is ready')) ready = true;
        if (output.length < 200) output.push(chunk);
      });
      await waitFor(
        'nats-server to be ready',
        () => {
          if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}): ${output.join('')}`);
          return ready;
        },
        15_000,
        20,
      );
    };
    await launch();
    return {
      url: `${options.tls ? 'tls' : 'nats'}://127.0.0.1:${port}`,
      port,
      get pid() {
        return server?.pid ?? -1;
      },
      stop,
      kill9,
      restart: launch,
      pause: () => running()?.kill('SIGSTOP'),
      resume: () => running()?.kill('SIGCONT'),
      async close() {
        await stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
