import type pino from 'pino';
import { createMessageConnection } from 'vscode-jsonrpc';
import type WebSocket from 'ws';
import { WebSocketMessageReader, WebSocketMessageWriter } from '../../core/rpc/websocket-transport';
import type { Broker } from '../broker';
import { bindRpc } from './rpc-handlers';

/** A team member's editor on the hub's /rpc endpoint (wss when the broker has a certificate). */
export function acceptWebSocketRpc(broker: Broker, socket: WebSocket, log: pino.Logger): void {
  const connection = createMessageConnection(new WebSocketMessageReader(socket), new WebSocketMessageWriter(socket));
  const unbind = bindRpc(connection, broker, log);
  connection.onError(([err]) => {
    log.warn({ event: 'rpc.transport-error', err: err.message }, 'bad JSON-RPC frame; closing');
    socket.close(4000, 'bad frame');
  });
  connection.onClose(() => unbind());
  socket.on('close', () => {
    unbind();
    connection.dispose();
  });
  connection.listen();
}
