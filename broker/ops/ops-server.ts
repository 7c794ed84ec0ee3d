import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import type pino from 'pino';
import { BUDGETS } from '../../core/budgets';
import { guarded } from '../../core/io/guarded';
import { audit } from '../audit/audit-log';
import type { Readiness } from './readiness';

export interface OpsServerOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  /** Test seams, defaulting to their BUDGETS rows. */
  requestMs?: number;
  connections?: number;
}

export interface OpsRoutes {
  metrics(): Promise<{ contentType: string; body: string }>;
  ready(): Promise<Readiness>;
}

export interface OpsServer {
  url: string;
  stop(): Promise<void>;
}

const PATHS = new Set(['/metrics', '/healthz', '/readyz']);

/** Header bytes as the budget counts them: every name and value, as received. */
function headerBytes(request: IncomingMessage): number {
  let bytes = 0;
  for (const part of request.rawHeaders) bytes += Buffer.byteLength(part, 'latin1');
  return bytes;
}

/**
 * Whether the Host header names this listener. A web page the operator opens can make its browser send requests
 * to 127.0.0.1 under a name of its own that it re-points there (DNS rebinding) and then read the answers as
 * same-origin: such a request carries the page's name as Host, and is refused. An IP literal or localhost is a
 * name no page can re-point. Over TLS no page can do it at all (the certificate would not match its name), and
 * a scraper then uses the name in the certificate, so any Host is served.
 */
function hostAllowed(host: string | undefined, bound: AddressInfo, listenHost: string, tls: boolean): boolean {
  if (tls) return true;
  if (!host) return false;
  const at = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  if (!at) return false;
  const name = at[1]!.replace(/^\[|\]$/g, '').toLowerCase();
  if (at[2] !== undefined && Number(at[2]) !== bound.port) return false;
  if (name === 'localhost') return true;
  const wildcard = listenHost === '0.0.0.0' || listenHost === '::';
  return isIP(name) !== 0 && (wildcard || name === bound.address || name === listenHost);
}

/**
 * The metrics and health listener: GET or HEAD of /metrics, /healthz and /readyz, nothing else. Bounded like
 * any listener a stranger or a web page can reach: sockets at once (opsConnections: past it the kernel's accept
 * is closed at once by node), one request's time, headers included (opsRequestMs), and its header bytes
 * (opsRequestHeaderBytes). Nothing a socket or request calls may throw out of its callback.
 */
export async function startOpsServer(options: OpsServerOptions, routes: OpsRoutes, log: pino.Logger): Promise<OpsServer> {
  const requestMs = options.requestMs ?? BUDGETS.opsRequestMs.limit;
  const headerLimit = BUDGETS.opsRequestHeaderBytes.limit;
  const settings = {
    // Node's own parser bound stays above the budget, so the exact count in the handler decides at the bound.
    maxHeaderSize: 2 * headerLimit,
    headersTimeout: requestMs,
    requestTimeout: requestMs,
    // How often node enforces the two timeouts above: its default (30 s) would let a slow sender hold a socket six times the budget.
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(requestMs / 4))),
    keepAliveTimeout: requestMs,
  };
  const server: Server = options.tls ? createHttpsServer({ ...settings, cert: options.tls.cert, key: options.tls.key }) : createHttpServer(settings);
  server.maxConnections = options.connections ?? BUDGETS.opsConnections.limit;
  const sockets = new Set<Socket>();
  const internalError = (what: string) => (err: unknown) => audit(log).error('ops.internal-error', { what, err: (err as Error)?.message ?? String(err) }, 'the metrics listener could not serve a request');
  server.on(
    'connection',
    guarded(internalError('connection'), (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      // An idle socket (a keep-alive nobody uses, a peer that sends nothing) holds a slot no longer than a request may.
      socket.setTimeout(requestMs, () => socket.destroy());
    }),
  );
  server.on('clientError', guarded(internalError('client'), (_err: Error, socket: Socket) => socket.destroy()));
  let bound!: AddressInfo;
  const respond = (response: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8', head = false) => {
    response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    response.end(head ? undefined : body);
  };
  server.on(
    'request',
    guarded(
      (err) => {
        internalError('request')(err);
      },
      async (request: IncomingMessage, response: ServerResponse) => {
        response.on('error', () => response.destroy());
        try {
          if (headerBytes(request) > headerLimit) return respond(response, 431, 'request headers too large\n');
          if (!hostAllowed(request.headers.host, bound, options.host, Boolean(options.tls))) return respond(response, 421, 'this listener does not serve that host name\n');
          const path = (request.url ?? '').split('?')[0]!;
          if (!PATHS.has(path)) return respond(response, 404, 'not found\n');
          if (request.method !== 'GET' && request.method !== 'HEAD') {
            response.setHeader('allow', 'GET, HEAD');
            return respond(response, 405, 'method not allowed\n');
          }
          const head = request.method === 'HEAD';
          if (path === '/healthz') return respond(response, 200, 'ok\n', undefined, head);
          if (path === '/readyz') {
            const readiness = await routes.ready();
            const failed = Object.entries(readiness.checks).filter(([, state]) => state !== 'ok').map(([name]) => name);
            return respond(response, readiness.ready ? 200 : 503, `${JSON.stringify({ status: readiness.ready ? 'ready' : 'unready', failed, checks: readiness.checks })}\n`, 'application/json', head);
          }
          const metrics = await routes.metrics();
          return respond(response, 200, metrics.body, metrics.contentType, head);
        } catch (err) {
          internalError(request.url === '/metrics' ? 'metrics' : 'request')(err);
          if (!response.headersSent) respond(response, 500, 'internal error\n');
          else response.destroy();
        }
      },
    ),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', guarded(internalError('listener'), (err: Error) => internalError('listener')(err)));
  bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const url = `${options.tls ? 'https' : 'http'}://${host}:${bound.port}`;
  return {
    url,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
