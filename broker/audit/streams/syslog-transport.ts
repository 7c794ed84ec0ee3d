import { connect as connectTcp, isIP, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { BUDGETS } from '../../../core/budgets';
import type { StreamedLine } from './log-reader';
import type { SendResult, StreamTransport } from './stream-transport';
import { syslogFrame } from './syslog-frame';

/**
 * How long a flushed batch waits, its connection still open, before it counts as taken. Syslog over TCP has no
 * acknowledgement: a receiver that stops closes the connection, and its close reaches us within this wait, so
 * the batch written just before is sent again on the next connection (a duplicate seq) rather than lost.
 */
export const SYSLOG_SETTLE_MS = 100;

/**
 * RFC 5424 messages framed by octet counting (RFC 6587) on one long-lived connection, TLS (the server's
 * certificate checked against the given CA or the system's) or plain TCP to a relay on this host. A batch is
 * one write; any failure (refused, closed, a write not flushed within the delivery time, bytes the receiver
 * should never send) drops the connection, so the next attempt starts on a fresh one with whole frames.
 */
export class SyslogTransport implements StreamTransport {
  readonly kind = 'syslog';
  readonly name: string;
  #socket: Socket | null = null;
  /** Fails the delivery in progress, if any, when its connection goes. */
  #failPending: ((error: string) => void) | null = null;

  constructor(
    private readonly target: { url: URL; ca?: Buffer },
    private readonly deliveryMs: number = BUDGETS.endpointDeliveryMs.limit,
  ) {
    this.name = `${target.url.protocol}//${target.url.host}`;
  }

  send(lines: readonly StreamedLine[]): Promise<SendResult> {
    const frames = Buffer.concat(lines.map((l) => syslogFrame(l.line, l.fields)));
    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#failPending = null;
        if (!result.ok) this.#drop();
        resolve(result);
      };
      const timer = setTimeout(() => finish({ ok: false, error: `not written within ${this.deliveryMs} ms` }), this.deliveryMs);
      this.#failPending = (error) => finish({ ok: false, error });
      try {
        const socket = this.#socket ?? this.#connect();
        socket.write(frames, (err) => {
          if (err) finish({ ok: false, error: err.message });
          else setTimeout(() => finish({ ok: true }), SYSLOG_SETTLE_MS);
        });
      } catch (err) {
        finish({ ok: false, error: (err as Error).message });
      }
    });
  }

  close(): void {
    this.#drop();
  }

  #connect(): Socket {
    const host = this.target.url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(this.target.url.port);
    const socket =
      this.target.url.protocol === 'tls:'
        ? connectTls({ host, port, ...(this.target.ca ? { ca: this.target.ca } : {}), ...(isIP(host) ? {} : { servername: host }) })
        : connectTcp({ host, port });
    let received = 0;
    socket.on('data', (chunk: Buffer) => {
      // A syslog receiver sends nothing back: whatever it sends is read and dropped, and past the bound the connection goes.
      received += chunk.length;
      if (received > BUDGETS.endpointResponseBytes.limit) this.#lost(socket, `the receiver sent more than ${BUDGETS.endpointResponseBytes.limit} bytes`);
    });
    socket.on('error', (err) => this.#lost(socket, err.message));
    socket.on('end', () => this.#lost(socket, 'the receiver closed the connection'));
    socket.on('close', () => this.#lost(socket, 'the connection closed'));
    this.#socket = socket;
    return socket;
  }

  #lost(socket: Socket, reason: string): void {
    socket.destroy();
    // A connection already dropped (its close comes after) says nothing about the one in use now.
    if (this.#socket !== socket) return;
    this.#socket = null;
    this.#failPending?.(reason);
  }

  #drop(): void {
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
  }
}
