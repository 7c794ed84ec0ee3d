import type pino from 'pino';
import { createMessageConnection, type Message } from 'vscode-jsonrpc';
import type WebSocket from 'ws';
import { guarded } from '../../core/io/guarded';
import { CloseCode } from '../../core/wire/close-codes';
import { WebSocketMessageReader, WebSocketMessageWriter } from '../../core/rpc/websocket-transport';
import type { Broker } from '../broker';
import { cutOffIfNotReading } from '../hub/backpressure';
import type { SessionEdge } from '../hub/socket-edge';
import { bindRpc } from './rpc-handlers';
import { audit } from '../audit/audit-log';

/** A viewer that asks for much and never reads is cut off like an agent that stops reading, not buffered for. */
class CutOffWriter extends WebSocketMessageWriter {
  constructor(
    private readonly ws: WebSocket,
    private readonly log: pino.Logger,
  ) {
    super(ws);
  }

  override async write(message: Message): Promise<void> {
    if (cutOffIfNotReading(this.ws, (buffered) => audit(this.log).warn('rpc.backpressure', { buffered }, 'client stopped reading; connection terminated'))) {
      throw new Error('the client stopped reading; connection terminated');
    }
    return super.write(message);
  }
}

/** A team member's editor on the hub's /rpc endpoint (wss when the broker has a certificate). */
export function acceptWebSocketRpc(broker: Broker, socket: WebSocket, log: pino.Logger, edge: SessionEdge): void {
  const guard = <A extends unknown[]>(callback: (...args: A) => unknown) =>
    guarded<A>((err) => {
      audit(log).error('rpc.internal-error', { err: (err as Error).message }, 'JSON-RPC connection callback failed; closing');
      socket.terminate();
    }, callback);
  const connection = createMessageConnection(new WebSocketMessageReader(socket, () => edge.admitFrame()), new CutOffWriter(socket, log));
  const unbind = bindRpc(connection, broker, log, 'network', edge);
  connection.onError(
    guard(([err]: [Error, Message | undefined, number | undefined]) => {
      edge.refused({ event: 'rpc.transport-error', code: 'bad-frame', err: err.message }, 'bad JSON-RPC frame; closing');
      socket.close(CloseCode.BadFrame, 'bad frame');
    }),
  );
  connection.onClose(guard(() => unbind()));
  socket.on(
    'close',
    guard(() => {
      unbind();
      connection.dispose();
    }),
  );
  connection.listen();
}
