import type { Socket } from 'node:net';
import { AbstractMessageWriter, type Message, type MessageWriter } from 'vscode-jsonrpc';
import { writeBatcher } from '../io/write-batcher';

/**
 * JSON-RPC over a stream socket, each message in one write, and the messages
 * of one turn of the event loop in one syscall (writeBatcher).
 * vscode-jsonrpc's SocketMessageWriter writes the header and the body apart
 * and waits for the first before the second: two syscalls per message, on
 * the broker's one thread, for every response and notification.
 */
export class SocketMessageWriter extends AbstractMessageWriter implements MessageWriter {
  readonly #batch: () => void;

  constructor(private readonly socket: Socket) {
    super();
    this.#batch = writeBatcher(socket);
    socket.on('error', (err) => this.fireError(err));
    socket.on('close', () => this.fireClose());
  }

  /**
   * Resolves as soon as the frame is handed to the socket, not when it is flushed: vscode-jsonrpc registers a
   * request's response handler only after `write` resolves, so a response that arrives before the flush callback
   * runs (a large write queued ahead, the batch's setImmediate) was dropped as unknown and the request hung for
   * ever. A failed write is reported through fireError, and the connection closes with its pending requests.
   */
  write(message: Message): Promise<void> {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    const frame = Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
    this.#batch();
    this.socket.write(frame, (err) => {
      if (err) this.fireError(err, message);
    });
    return Promise.resolve();
  }

  end(): void {
    this.socket.end();
  }

  override dispose(): void {
    super.dispose();
    this.socket.destroy();
  }
}
