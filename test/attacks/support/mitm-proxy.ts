import type { AddressInfo } from 'node:net';
import { decode } from '@msgpack/msgpack';
import WebSocket, { WebSocketServer } from 'ws';

export type Direction = 'toAgent' | 'toBroker';

export interface Intercepted {
  direction: Direction;
  data: Uint8Array;
  /** The frame as raw MessagePack (undefined if it does not decode). */
  frame: Record<string, unknown> | undefined;
}

/** What a hook decides: forward as is (undefined), forward other bytes, or drop (null). */
export type Hook = (message: Intercepted) => Uint8Array | null | undefined;

const sendable = (code: number) => (code >= 3000 && code <= 4999) || code === 1000 || code === 1001 || code === 1008 || code === 1009 || code === 1011;

/**
 * A WebSocket man in the middle on 127.0.0.1: each agent connection gets its
 * own upstream connection to the broker. It records every frame both ways,
 * lets hooks rewrite or drop them, and can inject frames towards the agent.
 */
export class MitmProxy {
  readonly seen: Intercepted[] = [];
  hook: Hook = () => undefined;
  #agentSide?: WebSocket;

  private constructor(
    private readonly server: WebSocketServer,
    readonly url: string,
    private readonly upstreamUrl: string,
  ) {
    server.on('connection', (agentSide) => this.#pair(agentSide));
  }

  static async start(upstreamUrl: string): Promise<MitmProxy> {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    const { port } = server.address() as AddressInfo;
    return new MitmProxy(server, `ws://127.0.0.1:${port}`, upstreamUrl);
  }

  /** Frames seen in one direction with a given type. */
  frames(direction: Direction, type: string): Intercepted[] {
    return this.seen.filter((m) => m.direction === direction && m.frame?.type === type);
  }

  /** Sends bytes to the agent as if the broker had sent them. */
  injectToAgent(data: Uint8Array): void {
    const socket = this.#agentSide;
    if (!socket || socket.readyState !== WebSocket.OPEN) throw new Error('no agent is connected to the proxy');
    socket.send(data, { binary: true });
  }

  #pair(agentSide: WebSocket): void {
    this.#agentSide = agentSide;
    const upstream = new WebSocket(this.upstreamUrl, { perMessageDeflate: false, maxPayload: 4 * 1024 * 1024 });
    const pending: Uint8Array[] = [];
    const relay = (direction: Direction, to: WebSocket, data: Uint8Array) => {
      let frame: Record<string, unknown> | undefined;
      try {
        frame = decode(data) as Record<string, unknown>;
      } catch {
        frame = undefined;
      }
      const message = { direction, data, frame };
      this.seen.push(message);
      const decided = this.hook(message);
      if (decided === null) return;
      const out = decided ?? data;
      if (to.readyState === WebSocket.OPEN) to.send(out, { binary: true });
      else if (to === upstream && to.readyState === WebSocket.CONNECTING) pending.push(out);
    };
    const closeOther = (other: WebSocket, code: number, reason: Buffer) => {
      if (other.readyState === WebSocket.OPEN) other.close(sendable(code) ? code : 1000, reason.toString().slice(0, 120));
      else other.terminate();
    };
    agentSide.on('message', (data) => relay('toBroker', upstream, new Uint8Array(data as Buffer)));
    upstream.on('message', (data) => relay('toAgent', agentSide, new Uint8Array(data as Buffer)));
    upstream.on('open', () => {
      for (const data of pending.splice(0)) upstream.send(data, { binary: true });
    });
    agentSide.on('close', (code, reason) => closeOther(upstream, code, reason));
    upstream.on('close', (code, reason) => closeOther(agentSide, code, reason));
    agentSide.on('error', () => undefined);
    upstream.on('error', () => agentSide.terminate());
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
