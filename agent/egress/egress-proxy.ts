import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUDGETS } from '../../core/budgets';
import { guarded } from '../../core/io/guarded';
import { checkDestination, DestinationRefused, pinnedLookup, type CheckedDestination, type DestinationRules } from './destination-check';

/** The socket's name in its private directory; the directory is what gets bound into the sandbox. */
export const PROXY_SOCKET_NAME = 'proxy.sock';
/** An upstream that does not accept within this is given up: a blackholed address must not pin a connection slot. */
const CONNECT_TIMEOUT_MS = 10_000;
/** A tunnel or request with no byte either way for this long is closed: slots are freed from stalled peers. */
const IDLE_TIMEOUT_MS = 60_000;

/** Headers that describe one hop, never forwarded: Proxy-Authorization in particular must not leave towards a server. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Told of every refusal: the destination and why, never a path, query or header (they may carry a token). */
export type RefusalListener = (refusal: { host: string; port: number | null; why: string }) => void;

function forwarded(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const named = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((h) => h.trim()));
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** host:port of a CONNECT request ([v6]:port too); null when it is not one. */
function authority(target: string | undefined): { host: string; port: number } | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]\s/@]+):(\d{1,5})$/.exec(target ?? '');
  return m ? { host: m[1]!, port: Number(m[2]) } : null;
}

/**
 * The filtering HTTP proxy one sandboxed command reaches through its bridge: CONNECT host:port (HTTPS and any
 * TLS) and absolute-form http:// requests, each destination checked by checkDestination (allowedDomains, then
 * its addresses: no loopback unless the host allows it, no link-local, never the broker) and connected to the
 * address checked. It listens on a Unix socket in a private 0700 directory only the command's sandbox gets bound
 * in, and holds at most BUDGETS.egressConnectionsPerCommand connections from the command at once.
 */
export class EgressProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  /** Connections turned away at the cap: a request already on its way over one must not open a tunnel after all. */
  readonly #turnedAway = new WeakSet<Socket>();
  #clients = 0;
  #closed: Promise<void> | null = null;

  private constructor(
    readonly socketDir: string,
    private readonly rules: DestinationRules,
    private readonly onRefused: RefusalListener,
  ) {
    this.#server = createServer({ requestTimeout: IDLE_TIMEOUT_MS, headersTimeout: CONNECT_TIMEOUT_MS });
    this.#server.on('connection', (socket: Socket) => this.#admit(socket));
    this.#server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      guarded((err) => this.#fail(socket, err), () => this.#tunnel(req, socket, head))();
    });
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      guarded((err) => this.#fail(res.socket, err), () => this.#forward(req, res))();
    });
    this.#server.on('clientError', (_err, socket: Socket) => socket.destroy());
  }

  /**
   * Starts a proxy for one command, on `<fresh 0700 dir>/proxy.sock`, listening when this returns (a Unix
   * socket binds synchronously), so a command's start needs no await. Should the bind fail after all, the
   * socket is absent and the command's connections fail: closed, never open.
   */
  static open(rules: DestinationRules, onRefused: RefusalListener): EgressProxy {
    // mkdtemp makes the directory 0700: no other user of the host can connect and borrow the command's allowance.
    const dir = mkdtempSync(join(tmpdir(), 'vc-egress-'));
    const proxy = new EgressProxy(dir, rules, onRefused);
    proxy.#server.on('error', (err: NodeJS.ErrnoException) => proxy.#tell({ host: '', port: null, why: `the egress proxy could not listen (${err.code ?? 'error'})` }));
    proxy.#server.listen(join(dir, PROXY_SOCKET_NAME));
    return proxy;
  }

  get socketPath(): string {
    return join(this.socketDir, PROXY_SOCKET_NAME);
  }

  /** Stops listening, cuts every connection and removes the socket's directory. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await new Promise<void>((resolve) => {
        this.#server.close(() => resolve());
        for (const socket of this.#sockets) socket.destroy();
      });
      await rm(this.socketDir, { recursive: true, force: true });
    })();
    return this.#closed;
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #admit(socket: Socket): void {
    this.#track(socket);
    // Errors are ends like any other: a reset from either side must not surface as an uncaught 'error'.
    socket.on('error', () => socket.destroy());
    if (this.#clients >= BUDGETS.egressConnectionsPerCommand.limit) {
      this.#turnedAway.add(socket);
      this.#refuse(socket, 429, { host: '', port: null, why: `more than ${BUDGETS.egressConnectionsPerCommand.limit} connections at once` });
      return;
    }
    this.#clients += 1;
    socket.once('close', () => (this.#clients -= 1));
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
  }

  #refuse(socket: Socket, status: number, refusal: { host: string; port: number | null; why: string }): void {
    this.#tell(refusal);
    const body = `${refusal.why}\n`;
    const text = status === 429 ? 'Too Many Requests' : status === 403 ? 'Forbidden' : status === 400 ? 'Bad Request' : 'Bad Gateway';
    if (socket.writable) {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Vaultysclaw-Refusal: ${status === 403 ? 'destination-refused' : 'egress-failed'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.destroySoon();
  }

  #tell(refusal: { host: string; port: number | null; why: string }): void {
    try {
      this.onRefused(refusal);
    } catch {
      // A listener's failure is not the connection's.
    }
  }

  #fail(socket: Socket | null, err: unknown): void {
    this.#tell({ host: '', port: null, why: `proxy error (${(err as NodeJS.ErrnoException | undefined)?.code ?? 'internal'})` });
    socket?.destroy();
  }

  /** The destination checked, or a refusal already answered on `socket` (null). */
  async #checked(host: string, port: number, socket: Socket): Promise<CheckedDestination | null> {
    try {
      return await checkDestination(host, port, this.rules);
    } catch (err) {
      const refused = err instanceof DestinationRefused;
      this.#refuse(socket, refused ? 403 : 502, { host, port, why: (err as Error).message });
      return null;
    }
  }

  async #tunnel(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    if (this.#turnedAway.has(client)) return;
    const target = authority(req.url);
    if (!target) return this.#refuse(client, 400, { host: '', port: null, why: 'CONNECT needs host:port' });
    const destination = await this.#checked(target.host, target.port, client);
    if (!destination || client.destroyed) return;
    const upstream = connect({ host: destination.host, port: destination.port, lookup: pinnedLookup(destination) });
    this.#track(upstream);
    const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), CONNECT_TIMEOUT_MS);
    let established = false;
    upstream.once('connect', () => {
      clearTimeout(connectTimer);
      established = true;
      upstream.setTimeout(IDLE_TIMEOUT_MS, () => upstream.destroy());
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      if (!established) this.#refuse(client, 502, { host: destination.host, port: destination.port, why: `could not connect (${err.code ?? err.message})` });
      else client.destroy();
    });
    upstream.once('close', () => client.destroySoon());
    client.once('close', () => upstream.destroy());
  }

  async #forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const socket = res.socket!;
    if (this.#turnedAway.has(socket)) return;
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return this.#refuse(socket, 400, { host: '', port: null, why: 'a proxy request needs an absolute http:// URL' });
    }
    if (url.protocol !== 'http:') return this.#refuse(socket, 400, { host: url.hostname, port: null, why: 'only http:// is forwarded; https:// goes through CONNECT' });
    const destination = await this.#checked(url.hostname, Number(url.port || 80), socket);
    if (!destination || socket.destroyed) return;
    const upstream = httpRequest({
      host: destination.host,
      port: destination.port,
      lookup: pinnedLookup(destination),
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers: { ...forwarded(req.headers), host: url.host },
      agent: false,
      timeout: IDLE_TIMEOUT_MS,
    });
    const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timeout')), CONNECT_TIMEOUT_MS);
    upstream.once('socket', (s: Socket) => {
      this.#track(s);
      s.once('connect', () => clearTimeout(connectTimer));
    });
    upstream.on('timeout', () => upstream.destroy(new Error('idle timeout')));
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, forwarded(answer.headers));
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      if (!res.headersSent) this.#refuse(socket, 502, { host: destination.host, port: destination.port, why: `could not reach it (${err.code ?? err.message})` });
      else res.destroy();
    });
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
  }
}
