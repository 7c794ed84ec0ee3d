import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { BUDGETS } from '../../core/budgets';
import { guarded } from '../../core/io/guarded';
import { writeBatcher } from '../../core/io/write-batcher';
import { decodeFrame, encodeFrame } from '../../core/wire/frame-codec';
import { AgentFrame, MAX_HUB_FRAME_BYTES } from '../../core/wire/hub-messages';
import type { AgentConnection, FrameSink } from './agent-connection';
import { cutOffIfNotReading } from './backpressure';
import { ConnectionCaps, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits, type ConnectionSlot } from './connection-caps';
import { DEFAULT_REFUSAL_AUDIT_LIMITS, RefusalAudit, type RefusalAuditLimits } from './refusal-audit';
import { SocketEdge, type SessionEdge } from './socket-edge';
import { audit } from '../audit/audit-log';
import type { AuditLine } from '../../core/audit/events';
import { CloseCode } from '../../core/wire/close-codes';

export interface HubOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  /** An agent that has not completed its handshake by then is disconnected. */
  handshakeTimeoutMs?: number;
  /** The same for a /rpc session's user handshake. */
  rpcHandshakeTimeoutMs?: number;
  /** A TCP connection that has not sent its WebSocket upgrade by then is destroyed. */
  upgradeTimeoutMs?: number;
  /** Frames a socket may send before it has authenticated. */
  preAuthFrames?: number;
  /** Socket caps (see ConnectionCaps); tests lower them to reach the bound quickly. */
  connections?: Partial<ConnectionLimits>;
  refusalAudit?: Partial<RefusalAuditLimits>;
  /** Ping interval; a peer that misses one pong is evicted. */
  heartbeatMs?: number;
  /** Frames per second allowed per connection before it is closed. */
  maxFramesPerSecond?: number;
  createConnection: (sink: FrameSink, log: pino.Logger) => AgentConnection;
  /** JSON-RPC clients (team members' editors) connect on /rpc; agents on any other path. */
  acceptRpc?: (socket: WebSocket, log: pino.Logger, edge: SessionEdge) => void;
  log: pino.Logger;
}

/** A TCP connection the hub accepted: its place in the caps, and the timer that reaps it if it never upgrades. */
interface Accepted {
  socket: Socket;
  slot: ConnectionSlot;
  upgradeTimer: NodeJS.Timeout;
  upgraded: boolean;
}

/** The WebSocket hub agents connect to. Every frame is decoded and validated here, at the edge. */
export class HubServer {
  readonly #http: HttpServer;
  readonly #wss: WebSocketServer;
  readonly #caps: ConnectionCaps;
  readonly #refusals: RefusalAudit;
  /** By remote address and port: the raw TCP socket and, under TLS, the TLS socket an upgrade arrives on share both. */
  readonly #accepted = new Map<string, Accepted>();
  readonly #upgradeTimeoutMs: number;
  #heartbeat?: NodeJS.Timeout;

  constructor(private readonly options: HubOptions) {
    this.#upgradeTimeoutMs = options.upgradeTimeoutMs ?? BUDGETS.hubUpgradeMs.limit;
    this.#caps = new ConnectionCaps({ ...DEFAULT_CONNECTION_LIMITS, ...options.connections });
    this.#refusals = new RefusalAudit(options.log, { ...DEFAULT_REFUSAL_AUDIT_LIMITS, ...options.refusalAudit });
    // Node's own header and request timeouts back up the upgrade timer below for requests that trickle in.
    const timeouts = { headersTimeout: this.#upgradeTimeoutMs, requestTimeout: this.#upgradeTimeoutMs };
    this.#http = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...timeouts }) : createHttpServer(timeouts);
    // A connection whose handling failed is dropped, never left open without its timers.
    this.#http.on('connection', this.#guard((socket: Socket) => this.#onTcp(socket), (socket) => socket.destroy()));
    this.#http.on('request', this.#guard((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n')));
    this.#http.on('upgrade', this.#guard((request: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(request, socket, head), (_r, socket) => socket.destroy()));
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: MAX_HUB_FRAME_BYTES, perMessageDeflate: false });
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      // A reconnect storm brings thousands of SYNs at once: a short accept queue would drop them into client backoff.
      this.#http.listen({ port: this.options.port, host: this.options.host, backlog: LISTEN_BACKLOG }, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
    const heartbeatMs = this.options.heartbeatMs ?? 30_000;
    this.#heartbeat = setInterval(this.#guard(() => this.#sweep()), heartbeatMs);
    this.#heartbeat.unref();
    return this.#http.address() as AddressInfo;
  }

  /** Whether it accepts connections, and the sockets it holds (upgraded to WebSocket or not yet): read by /readyz and /metrics. */
  status(): { listening: boolean; sockets: number; webSockets: number } {
    return { listening: this.#http.listening, sockets: this.#accepted.size, webSockets: this.#wss.clients.size };
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#refusals.close();
    // Stop accepting first: an agent told GoingAway then reconnects to a refused port, not to a broker on its way out.
    const stopped = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    for (const socket of this.#wss.clients) socket.close(CloseCode.GoingAway, 'broker shutting down');
    // Sockets that never upgraded would hold close() until their timer.
    for (const { socket, upgraded } of this.#accepted.values()) if (!upgraded) socket.destroy();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await stopped;
  }

  /** Nothing a socket, timer or server event calls may throw out of its callback: a stranger's input must not stop the hub. */
  #guard<A extends unknown[]>(callback: (...args: A) => unknown, failClosed: (...args: A) => void = () => {}): (...args: A) => void {
    return (...args: A) =>
      guarded((err) => {
        audit(this.options.log).error('hub.internal-error', { err: (err as Error).message }, 'hub callback failed');
        failClosed(...args);
      }, callback)(...args);
  }

  /** A refusal of a peer that never authenticated: within the refusal budget. */
  #refused(address: string, line: AuditLine<'hub.refused'>, message: string): void {
    this.#refusals.refused(this.options.log, address, { ...line, remote: address }, message);
  }

  #onTcp(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    const admitted = this.#caps.accept(address);
    if (!admitted.ok) {
      this.#refused(address, { event: 'hub.refused', code: admitted.reason }, 'connection refused: too many unauthenticated connections');
      // Plain HTTP can say why; under TLS nothing can be said before a handshake the broker will not spend on it.
      if (this.options.tls) socket.destroy();
      else socket.end(httpRefusal(503, admitted.reason), this.#guard(() => socket.destroy()));
      return;
    }
    const key = keyOf(socket);
    const upgradeTimer = setTimeout(
      this.#guard(() => {
        this.#refused(address, { event: 'hub.refused', code: 'upgrade-timeout' }, 'connection did not upgrade in time');
        socket.destroy();
      }),
      this.#upgradeTimeoutMs,
    );
    this.#accepted.set(key, { socket, slot: admitted.slot, upgradeTimer, upgraded: false });
    socket.once(
      'close',
      this.#guard(() => {
        clearTimeout(upgradeTimer);
        this.#accepted.delete(key);
        this.#caps.release(admitted.slot);
      }),
    );
  }

  #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const accepted = this.#accepted.get(keyOf(request.socket));
    if (!accepted) return void socket.destroy();
    clearTimeout(accepted.upgradeTimer);
    accepted.upgraded = true;
    const { address } = accepted.slot;
    // A browser always sends Origin; the broker's own clients (agents, the extension host, the CLI) never do.
    // Refused before the upgrade completes: a web page must not even reach the handshake (ws://127.0.0.1:8080).
    if (request.headers.origin !== undefined) {
      this.#refused(address, { event: 'hub.refused', code: 'browser-origin', origin: request.headers.origin.slice(0, 200) }, 'browser origin refused');
      socket.end(httpRefusal(403, 'browser origins are refused'), this.#guard(() => socket.destroy()));
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, this.#guard((ws: WebSocket) => this.#onSocket(ws, request, accepted.slot), (ws) => ws.terminate()));
  }

  #onSocket(socket: WebSocket, request: IncomingMessage, slot: ConnectionSlot): void {
    const log = this.options.log.child({ remote: slot.address });
    const rpc = request.url === '/rpc' && this.options.acceptRpc !== undefined;
    const handshakeMs = (rpc ? this.options.rpcHandshakeTimeoutMs : this.options.handshakeTimeoutMs) ?? (rpc ? BUDGETS.rpcHandshakeMs.limit : BUDGETS.agentHandshakeMs.limit);
    const edge = new SocketEdge(socket, slot, this.#caps, this.#refusals, log, { handshakeMs, preAuthFrames: this.options.preAuthFrames ?? BUDGETS.preAuthFrames.limit });
    this.#alive.set(socket, true);
    socket.on('pong', this.#guard(() => this.#alive.set(socket, true)));
    if (rpc) return this.options.acceptRpc!(socket, log.child({ transport: 'websocket' }), edge);
    // ws corks each frame inside the batch: the frames of one turn of the loop to one agent leave together.
    this.#onConnection(socket, writeBatcher(request.socket), log, edge);
  }

  #alive = new WeakMap<WebSocket, boolean>();

  /** Dead-peer eviction: a socket that did not answer the previous ping is terminated. */
  #sweep(): void {
    for (const socket of this.#wss.clients) {
      if (this.#alive.get(socket) === false) {
        audit(this.options.log).warn('hub.evicted', {}, 'agent missed a heartbeat; connection terminated');
        socket.terminate();
        continue;
      }
      this.#alive.set(socket, false);
      socket.ping();
    }
  }

  #onConnection(socket: WebSocket, batch: () => void, log: pino.Logger, edge: SocketEdge): void {
    const session = this.options.createConnection(
      {
        send: (frame) => {
          batch();
          send(socket, frame, (buffered) =>
            audit(log).warn('hub.backpressure', { did: session.did, buffered }, 'agent stopped reading; connection terminated'),
          );
        },
        close: (code, reason) => socket.close(code, reason),
        pauseReading: () => socket.pause(),
        resumeReading: () => socket.resume(),
        remote: edge.remote,
        refusedUnauthenticated: (line, message) => edge.refused(line, message),
        budgeted: (line, message) => edge.budgeted(line, message),
      },
      log,
    );
    const maxPerSecond = this.options.maxFramesPerSecond ?? BUDGETS.hubFramesPerSecond.limit;
    let windowStart = Date.now();
    let framesInWindow = 0;
    socket.on('error', this.#guard((err: Error) => edge.refused({ event: 'hub.socket-error', code: 'socket-error', err: err.message }, 'agent socket error')));
    socket.on('close', this.#guard(() => session.onSocketClosed()));

    socket.on(
      'message',
      guarded(
        (err) => {
          // A failure of ours (the disk full, the database unwritable) must not take the hub down with it:
          // this connection ends, nothing was acknowledged, and the agent resends what it kept.
          audit(log).error('hub.internal-error', { did: session.did, err: (err as Error).message }, 'could not handle an agent frame');
          send(socket, { type: 'error', code: 'internal', message: 'the broker could not handle this frame; try again later' });
          socket.close(CloseCode.InternalError, 'internal error');
        },
        (data: Buffer, isBinary: boolean) => {
          if (!edge.admitFrame()) return;
          const now = Date.now();
          if (now - windowStart >= 1000) {
            windowStart = now;
            framesInWindow = 0;
          }
          if (++framesInWindow > maxPerSecond) {
            edge.refused({ event: 'hub.rate-limited', code: 'rate-limit', did: session.did }, 'agent exceeded its frame rate; connection closed');
            socket.close(CloseCode.TooManyFrames, 'rate limit');
            return;
          }
          const frame = decodeFrame(AgentFrame, isBinary ? new Uint8Array(data) : null, MAX_HUB_FRAME_BYTES);
          if (!frame.ok) {
            edge.refused({ event: 'hub.bad-frame', code: frame.code, detail: frame.message, did: session.did }, 'bad frame from agent');
            send(socket, { type: 'error', code: frame.code, message: frame.message });
            socket.close(CloseCode.BadFrame, frame.code);
            return;
          }
          // A result the broker asked for (one per intent sent on this connection) is owed, not volunteered: it is
          // given back, so the limit caps what an agent sends unasked and never how many intents it may answer.
          if (session.takeOwedResult(frame.value)) framesInWindow--;
          // Handled after the frames before it (the connection queues them); a failure ends this connection only.
          return session.handle(frame.value).then(() => {
            if (session.did) edge.authenticated();
          });
        },
      ),
    );
  }
}

/** Above Linux's default net.core.somaxconn (4096 since 5.4), the kernel caps it. */
const LISTEN_BACKLOG = 4096;

function keyOf(socket: { remoteAddress?: string; remotePort?: number }): string {
  return `${socket.remoteAddress ?? 'unknown'}|${socket.remotePort ?? 0}`;
}

function httpRefusal(status: 403 | 503, reason: string): string {
  const text = status === 403 ? 'Forbidden' : 'Service Unavailable';
  return `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason) + 1}\r\n\r\n${reason}\n`;
}

function send(socket: WebSocket, frame: Record<string, unknown>, onOverflow: (buffered: number) => void = () => {}): void {
  if (socket.readyState !== socket.OPEN) return;
  if (cutOffIfNotReading(socket, onOverflow)) return;
  socket.send(encodeFrame(frame));
}
