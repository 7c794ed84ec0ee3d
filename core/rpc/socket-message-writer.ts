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

  write(message: Message): Promise<void> {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    const frame = Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
    this.#batch();
    return new Promise((resolve, reject) =>
      this.socket.write(frame, (err) => {
        if (!err) return resolve();
        this.fireError(err, message);
        reject(err);
      }),
    );
  }

  end(): void {
    this.socket.end();
  }

  override dispose(): void {
    super.dispose();
    this.socket.destroy();
  }
}
