import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { LaunchPart } from '../../../agent/confinement/launch-part';

/**
 * Loopback fixtures for the egress tests: an HTTP server that says who it is and counts its connections, a
 * TCP listener standing for the broker's hub, a UDP "resolver" that counts the datagrams it receives, and a
 * plain bubblewrap sandbox (no network but its own loopback) that starts a command with a LaunchPart's pieces.
 */
export class CountingHttpServer {
  connections = 0;
  readonly requests: { method: string; url: string; host: string; body: string }[] = [];
  readonly #sockets = new Set<Socket>();

  private constructor(
    readonly server: HttpServer,
    readonly port: number,
  ) {}

  /** `respond` decides the answer; by default 200 "hello from <name>" with the method and path echoed. */
  static async start(name: string, respond?: (req: { method: string; url: string; body: string }, res: import('node:http').ServerResponse) => void): Promise<CountingHttpServer> {
    let self: CountingHttpServer | undefined;
    const server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const seen = { method: req.method ?? '', url: req.url ?? '', host: String(req.headers.host ?? ''), body: Buffer.concat(chunks).toString('utf8') };
        self!.requests.push(seen);
        if (respond) return respond(seen, res);
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`hello from ${name}: ${seen.method} ${seen.url}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new CountingHttpServer(server, (server.address() as AddressInfo).port);
    server.on('connection', (socket: Socket) => {
      self!.connections += 1;
      self!.#sockets.add(socket);
      socket.on('close', () => self!.#sockets.delete(socket));
    });
    return self;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A listener that accepts and counts, then closes: the broker's hub port as far as egress is concerned. */
export class CountingListener {
  connections = 0;
  readonly #sockets = new Set<Socket>();
  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<CountingListener> {
    let self: CountingListener | undefined;
    const server = createTcpServer((socket) => {
      self!.connections += 1;
      self!.#sockets.add(socket);
      socket.on('close', () => self!.#sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nbroker');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new CountingListener(server, (server.address() as AddressInfo).port);
    return self;
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A UDP port on 127.0.0.1 that answers every datagram with one of its own and counts what it got. */
export class CountingResolver {
  datagrams = 0;
  private constructor(
    readonly socket: UdpSocket,
    readonly port: number,
  ) {}

  static async start(): Promise<CountingResolver> {
    const socket = createSocket('udp4');
    let self: CountingResolver | undefined;
    socket.on('message', (msg, from) => {
      self!.datagrams += 1;
      // A DNS header echoing the id, QR set, RCODE 3 (no such name): a complete answer to any query.
      const answer = Buffer.from(msg.subarray(0, 12));
      if (answer.length >= 4) {
        answer[2] = 0x81;
        answer[3] = 0x83;
      }
      socket.send(answer, from.port, from.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    self = new CountingResolver(socket, socket.address().port);
    return self;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

export interface Ran {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Spawns and collects, asynchronously (the proxy serving the command lives in this process), killed by pid at `timeoutMs`. */
export function run(file: string, args: readonly string[], env: Record<string, string>, timeoutMs = 30_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The system a command needs to run curl and node, read-only; everything else of the host is absent. */
const SYSTEM = ['--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64', '--ro-bind', '/etc', '/etc'];

/**
 * A command in a plain bubblewrap sandbox of this test's own making: every namespace unshared (the network
 * too: nothing but a loopback of its own), with `part`'s binds, inner argv and environment, as the sandbox
 * engineer's spawn combines them.
 */
export function runSandboxed(part: LaunchPart | null, command: string, args: readonly string[], timeoutMs?: number): Promise<Ran> {
  const env: Record<string, string> = { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', ...(part?.env ?? {}) };
  const bwrap = [
    '--unshare-all', '--die-with-parent', '--new-session', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', ...SYSTEM,
    ...(part?.bwrapArgs ?? []),
    '--clearenv', ...Object.entries(env).flatMap(([k, v]) => ['--setenv', k, v]),
    '--', ...(part?.inner ?? []), command, ...args,
  ];
  return run('/usr/bin/bwrap', bwrap, {}, timeoutMs);
}

/** A node one-liner as the command: `node -e <script>`. */
export function nodeScript(part: LaunchPart | null, script: string, timeoutMs?: number): Promise<Ran> {
  return runSandboxed(part, '/usr/bin/node', ['-e', script], timeoutMs);
}

export type ProbeResults = Record<'direct' | 'broker' | 'tcpOut' | 'udpLoopback' | 'udpOut' | 'dns', string>;

/**
 * A node script (for `node -e`) that tries every way around an egress proxy and prints, as one JSON line, how
 * each attempt ended: TCP straight to the allowed server and to the broker's port on 127.0.0.1, TCP and UDP to
 * an outside address, a UDP datagram and a DNS query to the loopback resolver. "connected", "answered" and
 * "resolved" are escapes; anything else is the error the socket reported.
 */
export function networkProbes(ports: { allowed: number; broker: number; resolver: number }): string {
  return `
    const net = require('net'), dgram = require('dgram'), dns = require('dns');
    const tcp = (host, port) => new Promise((r) => { const s = net.connect(port, host); s.on('connect', () => { s.destroy(); r('connected'); }); s.on('error', (e) => r(e.code)); setTimeout(() => { s.destroy(); r('timeout'); }, 3000); });
    const udp = (host, port) => new Promise((r) => { const s = dgram.createSocket('udp4'); const done = (v) => { try { s.close(); } catch {} r(v); };
      s.on('error', (e) => done(e.code)); s.on('message', () => done('answered')); s.send(Buffer.alloc(12), port, host, (e) => e && done(e.code)); setTimeout(() => done('no answer'), 2000); });
    (async () => {
      const resolver = new dns.promises.Resolver({ timeout: 1000, tries: 1 });
      resolver.setServers(['127.0.0.1:${ports.resolver}']);
      console.log(JSON.stringify({
        direct: await tcp('127.0.0.1', ${ports.allowed}),
        broker: await tcp('127.0.0.1', ${ports.broker}),
        tcpOut: await tcp('10.255.255.53', 53),
        udpLoopback: await udp('127.0.0.1', ${ports.resolver}),
        udpOut: await udp('10.255.255.53', 53),
        dns: await resolver.resolve4('example.com').then(() => 'resolved', (e) => e.code),
      }));
    })();`;
}

/** Every probe failed the way a namespace with nothing but its own loopback fails. */
export function assertNoEscape(results: ProbeResults): void {
  assert.equal(results.direct, 'ECONNREFUSED', "127.0.0.1 inside is the sandbox's own loopback");
  assert.equal(results.broker, 'ECONNREFUSED', "the broker's port on the sandbox's own loopback");
  assert.equal(results.tcpOut, 'ENETUNREACH');
  assert.notEqual(results.udpLoopback, 'answered');
  assert.equal(results.udpOut, 'ENETUNREACH');
  assert.notEqual(results.dns, 'resolved');
  assert.notEqual(results.dns, 'ENOTFOUND', 'the resolver answered');
}
