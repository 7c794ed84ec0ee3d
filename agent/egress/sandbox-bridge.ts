// Runs inside a command's sandbox (its own esbuild entry, dist/sandbox-bridge.js), whose network namespace has
// nothing but loopback: `node sandbox-bridge.js <proxy socket> <port> -- command args…`. It listens on
// 127.0.0.1:<port> there, hands every connection to the agent's egress proxy through the Unix socket bound into
// the sandbox, and runs the command with stdio passed through, ending as it ends. The bridge decides nothing:
// every destination is checked by the proxy, outside the sandbox, where the command cannot reach its code.
import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { constants } from 'node:os';
import { guarded } from '../../core/io/guarded';

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

function usage(message: string): never {
  process.stderr.write(`sandbox-bridge: ${message}\nusage: sandbox-bridge <proxy socket> <port> -- command [args…]\n`);
  process.exit(125);
}

function pipeBoth(client: Socket, upstream: Socket): void {
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end);
  upstream.on('error', end);
  client.on('close', end);
  upstream.on('close', end);
  client.pipe(upstream);
  upstream.pipe(client);
}

function main(argv: readonly string[]): void {
  const [socketPath, portText, separator, command, ...args] = argv;
  if (!socketPath || !portText || separator !== '--' || !command) usage('missing arguments');
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) usage(`bad port ${portText}`);

  const server = createServer((client) => {
    guarded(() => client.destroy(), () => pipeBoth(client, connect(socketPath)))();
  });
  server.on('error', (err: NodeJS.ErrnoException) => usage(`cannot listen on 127.0.0.1:${port} (${err.code ?? err.message})`));
  server.listen(port, '127.0.0.1', () => {
    const child = spawn(command, args, { stdio: 'inherit' });
    for (const signal of SIGNALS) process.on(signal, () => child.kill(signal));
    child.on('error', (err: NodeJS.ErrnoException) => {
      process.stderr.write(`sandbox-bridge: could not start ${command} (${err.code ?? 'error'})\n`);
      process.exit(err.code === 'ENOENT' ? 127 : 126);
    });
    child.on('exit', (code, signal) => {
      server.close();
      if (signal) {
        // End by the same signal, so the supervisor sees what the command saw.
        for (const s of SIGNALS) process.removeAllListeners(s);
        process.kill(process.pid, signal);
        // A signal node ignores (SIGPIPE) does not end it: say it the way a shell would.
        setImmediate(() => process.exit(128 + (constants.signals[signal] ?? 0)));
        return;
      }
      process.exit(code ?? 1);
    });
  });
}

main(process.argv.slice(2));
