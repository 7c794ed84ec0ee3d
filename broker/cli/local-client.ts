import { connect } from 'node:net';
import { join } from 'node:path';
import { createMessageConnection, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { Methods, type MethodName, type ParamsOf, type ResultOf } from '../../core/rpc/methods';
import { LOCAL_SOCKET } from '../rpc/local-socket';

/** A typed JSON-RPC client of a running broker's local socket, for the CLI. */
export class LocalBrokerClient {
  private constructor(readonly connection: MessageConnection) {}

  static async connect(dataDir: string): Promise<LocalBrokerClient> {
    const path = join(dataDir, LOCAL_SOCKET);
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? `no broker is running with data directory ${dataDir}` : err.message)),
      );
    });
    const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    connection.listen();
    return new LocalBrokerClient(connection);
  }

  async call<M extends MethodName>(name: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const spec = Methods[name];
    const raw = await this.connection.sendRequest(spec.method, params);
    // The client validates too: a broker of another version cannot hand it a shape it does not understand.
    return spec.result.parse(raw) as ResultOf<M>;
  }

  close(): void {
    this.connection.dispose();
  }
}
