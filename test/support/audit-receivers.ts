import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { TestPki } from './test-pki';

/**
 * Real receivers on 127.0.0.1 for the audit streams: an HTTPS collector and a syslog one (TLS, or plain TCP as a
 * local relay is), each able to stop and start again on the same port, or to misbehave the way a broken or hostile
 * endpoint does. Every socket they accept is destroyed when they stop.
 */
abstract class Receiver {
  port = 0;
  #server: HttpsServer | TcpServer | null = null;
  readonly #sockets = new Set<Socket>();

  protected abstract create(): HttpsServer | TcpServer;

  /** Connections open to it now. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Connections it accepted since it started the first time. */
  accepted = 0;

  async start(port = this.port): Promise<void> {
    const server = this.create();
    server.on('connection', (socket: Socket) => {
      this.accepted++;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }
}

export type CollectorBehaviour =
  /** Stores each line and answers 204. */
  | { kind: 'store' }
  /** Reads the body and never answers. */
  | { kind: 'silent' }
  /** Answers 200 with this many bytes of body and never ends the answer. */
  | { kind: 'endless-answer'; bytes: number }
  /** Stores like 'store', but closes a kept-alive connection when a second request comes on it, unanswered. */
  | { kind: 'one-request-per-connection' };

export class HttpsCollector extends Receiver {
  readonly lines: string[] = [];
  readonly authorizations: (string | undefined)[] = [];
  readonly contentTypes: (string | undefined)[] = [];
  /** Requests that began, whatever became of them. */
  requests = 0;
  behaviour: CollectorBehaviour = { kind: 'store' };
  readonly #served = new WeakMap<object, number>();

  constructor(private readonly pki: TestPki) {
    super();
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  protected create(): HttpsServer {
    return createHttpsServer({ cert: readFileSync(this.pki.serverCert), key: readFileSync(this.pki.serverKey) }, (request, response) => {
      this.requests++;
      const served = (this.#served.get(request.socket) ?? 0) + 1;
      this.#served.set(request.socket, served);
      if (this.behaviour.kind === 'one-request-per-connection' && served > 1) return void request.socket.destroy();
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const behaviour = this.behaviour;
        if (behaviour.kind === 'silent') return;
        if (behaviour.kind === 'endless-answer') {
          response.writeHead(200, { 'content-type': 'application/octet-stream' });
          response.write(Buffer.alloc(behaviour.bytes, 0x61));
          return;
        }
        this.authorizations.push(request.headers.authorization);
        this.contentTypes.push(request.headers['content-type']);
        const text = Buffer.concat(chunks).toString('utf8');
        assert.ok(text.endsWith('\n'), 'an NDJSON body ends with a newline');
        this.lines.push(...text.slice(0, -1).split('\n'));
        response.writeHead(204).end();
      });
    });
  }
}

export interface SyslogMessage {
  pri: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  msg: string;
}

const RFC5424 = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) - ([\s\S]*)$/;

/** Octet-counted RFC 5424 frames (RFC 6587 §3.4.1) out of a byte stream; what is left is an incomplete frame. */
function takeFrames(buffer: Buffer, into: SyslogMessage[]): Buffer {
  for (;;) {
    const space = buffer.indexOf(0x20);
    if (space === -1) return buffer;
    const length = Number(buffer.subarray(0, space).toString('ascii'));
    assert.ok(Number.isSafeInteger(length) && length > 0, `a frame starts with its length, not ${JSON.stringify(buffer.subarray(0, space).toString())}`);
    if (buffer.length < space + 1 + length) return buffer;
    const text = buffer.subarray(space + 1, space + 1 + length).toString('utf8');
    const match = RFC5424.exec(text);
    assert.ok(match, `an RFC 5424 message: ${text.slice(0, 120)}`);
    into.push({ pri: Number(match[1]), timestamp: match[2]!, hostname: match[3]!, appName: match[4]!, procId: match[5]!, msgId: match[6]!, msg: match[7]! });
    buffer = buffer.subarray(space + 1 + length);
  }
}

export class SyslogCollector extends Receiver {
  readonly messages: SyslogMessage[] = [];
  /** Bytes sent to each new connection at once (a receiver that talks back, which none should). */
  sendOnConnect = 0;

  /** TLS with the PKI's server certificate; plain TCP without one. */
  constructor(private readonly pki?: TestPki) {
    super();
  }

  get lines(): string[] {
    return this.messages.map((m) => m.msg);
  }

  protected create(): TcpServer {
    const onSocket = (socket: Socket) => {
      if (this.sendOnConnect > 0) socket.write(Buffer.alloc(this.sendOnConnect, 0x62));
      let pending: Buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        pending = takeFrames(Buffer.concat([pending, chunk]), this.messages);
      });
      socket.on('error', () => undefined);
    };
    return this.pki ? createTlsServer({ cert: readFileSync(this.pki.serverCert), key: readFileSync(this.pki.serverKey) }, onSocket) : createTcpServer(onSocket);
  }
}

/** Accepts connections and never reads or writes a byte: a TLS handshake with it never ends. */
export class SilentListener extends Receiver {
  protected create(): TcpServer {
    return createTcpServer((socket) => socket.pause());
  }
}

/**
 * What a receiver got, once per seq, in order. A seq received again (at-least-once) must carry the very same bytes;
 * the first arrivals must be consecutive seqs; each line's prev must be the SHA-256 of the line before it.
 */
export function verifiedChain(received: readonly string[]): { lines: string[]; duplicates: number } {
  const bySeq = new Map<number, string>();
  const lines: string[] = [];
  let duplicates = 0;
  for (const line of received) {
    const { seq } = JSON.parse(line) as { seq: number };
    const earlier = bySeq.get(seq);
    if (earlier !== undefined) {
      assert.equal(line, earlier, `seq ${seq} re-sent with other bytes`);
      duplicates++;
      continue;
    }
    bySeq.set(seq, line);
    lines.push(line);
  }
  for (let i = 1; i < lines.length; i++) {
    const { seq, prev } = JSON.parse(lines[i]!) as { seq: number; prev: string };
    const before = JSON.parse(lines[i - 1]!) as { seq: number };
    assert.equal(seq, before.seq + 1, `seq ${seq} arrived first right after seq ${before.seq}`);
    assert.equal(prev, createHash('sha256').update(lines[i - 1]!, 'utf8').digest('hex'), `seq ${seq}: prev is the hash of the line before`);
  }
  return { lines, duplicates };
}
