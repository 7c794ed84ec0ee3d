import { AbstractMessageReader, AbstractMessageWriter, Disposable, type DataCallback, type Message } from 'vscode-jsonrpc';
import type WebSocket from 'ws';
import { CloseCode } from '../wire/close-codes';

/**
 * JSON-RPC over a WebSocket: one JSON message per text frame. Used by the
 * team broker's /rpc endpoint and by clients that attach to it. Binary
 * frames and non-JSON text are transport errors, never crashes.
 */
export class WebSocketMessageReader extends AbstractMessageReader {
  #callback?: DataCallback;

  /** `admit` is asked before each frame is read: a frame it refuses is dropped unread (a peer over its frame budget). */
  constructor(socket: WebSocket, admit: () => boolean = () => true) {
    super();
    socket.on('message', (data, isBinary) => {
      if (!admit()) return;
      if (isBinary) return this.fireError(new Error('JSON-RPC frames must be text'));
      let message: Message;
      try {
        message = JSON.parse(data.toString()) as Message;
      } catch {
        return this.fireError(new Error('JSON-RPC frame is not JSON'));
      }
      this.#callback?.(message);
    });
    socket.on('close', () => this.fireClose());
    socket.on('error', (err) => this.fireError(err));
  }

  listen(callback: DataCallback): Disposable {
    this.#callback = callback;
    return Disposable.create(() => {
      this.#callback = undefined;
    });
  }
}

export class WebSocketMessageWriter extends AbstractMessageWriter {
  constructor(private readonly socket: WebSocket) {
    super();
  }

  async write(message: Message): Promise<void> {
    if (this.socket.readyState !== this.socket.OPEN) throw new Error('the connection is closed');
    this.socket.send(JSON.stringify(message));
  }

  end(): void {
    this.socket.close(CloseCode.Normal);
  }
}
