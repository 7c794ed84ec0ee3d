/**
 * Egress benchmark (agent/egress): what the egress proxy and its bridge add to one HTTP GET on loopback.
 *
 * What is measured (operations per second), one GET of a 1 KiB body from an HTTP server on 127.0.0.1, each on
 * a fresh connection (agent: false, as a command's one-off requests are), body read to the end:
 *   direct    the bench's own client straight to the server.
 *   proxied   the same GET in absolute form to the bridge (dist/sandbox-bridge.js, a real child process), which
 *             hands the connection to the egress proxy's Unix socket; the proxy checks the destination
 *             (allowedDomains ['localhost'], resolved, loopback allowed as --egress-allow-loopback does) and
 *             forwards it on a connection of its own: the path an HTTP_PROXY client inside a sandbox takes.
 * The bridge runs on the host, outside any sandbox, on a free loopback port: a sandbox's own start-up cost is
 * the sandbox suite's; this is the per-request cost of filtering. The ratio proxied / direct is computed run by
 * run (bench/measure.ts): 0.5 means a proxied GET takes twice as long as a direct one.
 */
import { spawn } from 'node:child_process';
import { createServer, get, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { bridgeScript } from '../agent/egress/egress-launch-part';
import { EgressProxy } from '../agent/egress/egress-proxy';
import { measure, ratioOf, type Suite } from './measure';

const BODY = Buffer.alloc(1024, 0x61);

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** A port free a moment ago, for the bridge (it takes its port on the command line, as in a sandbox). */
async function freePort(): Promise<number> {
  const probe = createTcpServer();
  const port = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** One GET, resolved when the whole body is read; `via` sends it in absolute form to a proxy at that port. */
function getOnce(port: number, via?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = via === undefined
      ? get({ host: '127.0.0.1', port, path: '/', agent: false })
      : get({ host: '127.0.0.1', port: via, path: `http://localhost:${port}/`, headers: { host: `localhost:${port}` }, agent: false });
    request.on('error', reject);
    request.on('response', (response) => {
      if (response.statusCode !== 200) reject(new Error(`HTTP ${response.statusCode}`));
      response.resume();
      response.on('end', resolve);
      response.on('error', reject);
    });
  });
}

/** Bounded wait until something accepts on 127.0.0.1:port. */
async function waitForListening(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listened on 127.0.0.1:${port}`);
}

export const egressSuite: Suite = {
  name: 'egress',
  async run(options) {
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(BODY));
    const serverPort = await listen(server);
    const proxy = EgressProxy.open({ policy: { allowedDomains: ['localhost'] }, host: { brokers: [{ host: '127.0.0.1', port: 9 }], allowLoopback: true } }, () => undefined);
    const bridgePort = await freePort();
    // Its own process group, so the bridge and the command it holds open end together.
    const bridge = spawn(process.execPath, [bridgeScript(), proxy.socketPath, String(bridgePort), '--', 'sleep', '3600'], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
    try {
      await waitForListening(bridgePort);
      const figures = await measure(
        [
          { name: 'direct', op: () => getOnce(serverPort) },
          { name: 'proxied', op: () => getOnce(serverPort, bridgePort) },
        ],
        options,
      );
      return { ...figures, proxiedOverDirect: ratioOf(figures.proxied!, figures.direct!) };
    } finally {
      if (bridge.pid !== undefined) process.kill(-bridge.pid, 'SIGKILL');
      await proxy.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  },
};
