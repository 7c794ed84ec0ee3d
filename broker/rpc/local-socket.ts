import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type pino from 'pino';
import { guarded } from '../../core/io/guarded';
import { createMessageConnection, SocketMessageReader } from 'vscode-jsonrpc/node';
import { SocketMessageWriter } from '../../core/rpc/socket-message-writer';
import type { Broker } from '../broker';
import { bindRpc } from './rpc-handlers';
import { audit } from '../audit/audit-log';

export const LOCAL_SOCKET = 'broker.sock';

/**
 * JSON-RPC for the broker host's own operator (the CLI): a Unix socket in the
 * data directory, reachable by the data directory's owner only (0700 folder,
 * 0600 socket). Callers still prove a user id like on any other transport.
 */
export async function listenLocalSocket(dataDir: string, broker: Broker, log: pino.Logger): Promise<Server> {
  const path = join(dataDir, LOCAL_SOCKET);
  rmSync(path, { force: true });
  const guard = <A extends unknown[]>(callback: (...args: A) => unknown, onError: () => void = () => {}) =>
    guarded<A>((err) => {
      audit(log).error('rpc.internal-error', { transport: 'local-socket', err: (err as Error).message }, 'local socket callback failed');
      onError();
    }, callback);
  const server = createServer(
    guard((socket: Socket) => {
      const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
      const unbind = bindRpc(connection, broker, log.child({ transport: 'local-socket' }), 'host');
      const end = () => socket.destroy();
      connection.onClose(guard(() => unbind(), end));
      // After a framing error the stream cannot be resynchronised: end the connection rather than leave the client hanging.
      connection.onError(
        guard(([err]: [Error, unknown, unknown]) => {
          audit(log).warn('rpc.transport-error', { err: err.message }, 'bad JSON-RPC frame on the local socket; closing');
          socket.destroy();
        }, end),
      );
      socket.on('error', guard(() => connection.dispose(), end));
      socket.on('close', guard(() => unbind()));
      connection.listen();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return server;
}
