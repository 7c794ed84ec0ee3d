import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type pino from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { BUDGETS } from '../../core/budgets';
import { writeBatcher } from '../../core/io/write-batcher';
import { decodeFrame, encodeFrame } from '../../core/wire/frame-codec';
import { AgentFrame, MAX_HUB_FRAME_BYTES } from '../../core/wire/hub-messages';
import type { AgentConnection, FrameSink } from './agent-connection';

export interface HubOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  /** An agent that has not completed its handshake by then is disconnected. */
  handshakeTimeoutMs?: number;
  /** Ping interval; a peer that misses one pong is evicted. */
  heartbeatMs?: number;
  /** Frames per second allowed per connection before it is closed. */
  maxFramesPerSecond?: number;
  createConnection: (sink: FrameSink, log: pino.Logger) => AgentConnection;
  /** JSON-RPC clients (team members' editors) connect on /rpc; agents on any other path. */
  acceptRpc?: (socket: WebSocket, log: pino.Logger) => void;
  log: pino.Logger;
}

/** The WebSocket hub agents connect to. Every frame is decoded and validated here, at the edge. */
export class HubServer {
  readonly #http: HttpServer;
  readonly #wss: WebSocketServer;
  #heartbeat?: NodeJS.Timeout;

  constructor(private readonly options: HubOptions) {
    this.#http = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }) : createHttpServer();
    this.#http.on('request', (_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n'));
    this.#wss = new WebSocketServer({ server: this.#http, maxPayload: MAX_HUB_FRAME_BYTES, perMessageDeflate: false });
    // ws re-emits the HTTP server's errors; listen() reports them (e.g. EADDRINUSE) as a clear failure instead.
    this.#wss.on('error', () => {});
    this.#wss.on('connection', (socket, request) => {
      const remote = request.socket.remoteAddress ?? 'unknown';
      if (request.url === '/rpc' && options.acceptRpc) return this.#onRpc(socket, remote);
      // ws corks each frame inside the batch: the frames of one turn of the loop to one agent leave together.
      this.#onConnection(socket, writeBatcher(request.socket), remote);
    });
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
    this.#heartbeat = setInterval(() => this.#sweep(), heartbeatMs);
    this.#heartbeat.unref();
    return this.#http.address() as AddressInfo;
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    // Stop accepting first: an agent told 1001 then reconnects to a refused port, not to a broker on its way out.
    const stopped = new Promise<void>((resolve) => this.#http.close(() => resolve()));
    for (const socket of this.#wss.clients) socket.close(1001, 'broker shutting down');
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await stopped;
  }

  #alive = new WeakMap<WebSocket, boolean>();

  /** Dead-peer eviction: a socket that did not answer the previous ping is terminated. */
  #sweep(): void {
    for (const socket of this.#wss.clients) {
      if (this.#alive.get(socket) === false) {
        this.options.log.warn({ event: 'hub.evicted' }, 'agent missed a heartbeat; connection terminated');
        socket.terminate();
        continue;
      }
      this.#alive.set(socket, false);
      socket.ping();
    }
  }

  #onRpc(socket: WebSocket, remote: string): void {
    this.#alive.set(socket, true);
    socket.on('pong', () => this.#alive.set(socket, true));
    this.options.acceptRpc!(socket, this.options.log.child({ remote, transport: 'websocket' }));
  }

  #onConnection(socket: WebSocket, batch: () => void, remote: string): void {
    const log = this.options.log.child({ remote });
    const session = this.options.createConnection(
      {
        send: (frame) => {
          batch();
          send(socket, frame, (buffered) =>
            log.warn({ event: 'hub.backpressure', did: session.did, buffered }, 'agent stopped reading; connection terminated'),
          );
        },
        close: (code, reason) => socket.close(code, reason),
      },
      log,
    );
    const maxPerSecond = this.options.maxFramesPerSecond ?? BUDGETS.hubFramesPerSecond.limit;
    let windowStart = Date.now();
    let framesInWindow = 0;
    this.#alive.set(socket, true);
    socket.on('pong', () => this.#alive.set(socket, true));
    socket.on('error', (err) => log.warn({ event: 'hub.socket-error', err: err.message }, 'agent socket error'));

    const handshakeTimer = setTimeout(() => {
      if (!session.did) {
        log.warn({ event: 'auth.timeout' }, 'agent did not authenticate in time');
        socket.close(4002, 'handshake timeout');
      }
    }, this.options.handshakeTimeoutMs ?? BUDGETS.agentHandshakeMs.limit);
    socket.on('close', () => {
      clearTimeout(handshakeTimer);
      session.onSocketClosed();
    });

    socket.on('message', (data, isBinary) => {
      const now = Date.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        framesInWindow = 0;
      }
      if (++framesInWindow > maxPerSecond) {
        log.warn({ event: 'hub.rate-limited', did: session.did }, 'agent exceeded its frame rate; connection closed');
        socket.close(4008, 'rate limit');
        return;
      }
      const frame = decodeFrame(AgentFrame, isBinary ? new Uint8Array(data as Buffer) : null, MAX_HUB_FRAME_BYTES);
      if (!frame.ok) {
        log.warn({ event: 'hub.bad-frame', code: frame.code, detail: frame.message, did: session.did }, 'bad frame from agent');
        send(socket, { type: 'error', code: frame.code, message: frame.message });
        socket.close(4000, frame.code);
        return;
      }
      // A result the broker asked for (one per intent sent on this connection) is owed, not volunteered: it is
      // given back, so the limit caps what an agent sends unasked and never how many intents it may answer.
      if (session.takeOwedResult(frame.value)) framesInWindow--;
      try {
        session.handle(frame.value);
      } catch (err) {
        // A failure of ours (the disk full, the database unwritable) must not take the hub down with it:
        // this connection ends, nothing was acknowledged, and the agent resends what it kept.
        log.error({ event: 'hub.internal-error', did: session.did, type: frame.value.type, err: (err as Error).message }, 'could not handle an agent frame');
        send(socket, { type: 'error', code: 'internal', message: 'the broker could not handle this frame; try again later' });
        socket.close(1011, 'internal error');
      }
    });
  }
}

/** Above Linux's default net.core.somaxconn (4096 since 5.4), the kernel caps it. */
const LISTEN_BACKLOG = 4096;

/** Backpressure: a peer that stops reading is cut off rather than buffered without bound. */
const MAX_BUFFERED_BYTES = BUDGETS.peerBufferedBytes.limit;

function send(socket: WebSocket, frame: Record<string, unknown>, onOverflow?: (buffered: number) => void): void {
  if (socket.readyState !== socket.OPEN) return;
  if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
    onOverflow?.(socket.bufferedAmount);
    socket.terminate();
    return;
  }
  socket.send(encodeFrame(frame));
}
