import { connect } from 'node:net';
import { join } from 'node:path';
import { createMessageConnection, SocketMessageReader, SocketMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { Methods, type MethodName, type ParamsOf, type ResultOf } from '../../core/rpc/methods';
import { LOCAL_SOCKET } from '../rpc/local-socket';
import { readKeyFile, type SecretIdentity } from '../../core/identity';
import type { UserHello } from '../../core/rpc/user-auth';
import { authenticateUser } from '../../core/rpc/user-session';
import { BROKER_KEY_FILE } from '../broker-identity';
import { loadLocalOperator } from '../local-operator';

/** A typed JSON-RPC client of a running broker's local socket, for the CLI. */
export class LocalBrokerClient {
  private constructor(readonly connection: MessageConnection) {}

  /**
   * Connects and proves a user id: by default the broker host's local operator
   * (operator.key in the data directory, the first user and so the owner of a
   * fresh broker). The broker is pinned to the key in the same data directory.
   */
  static async connect(dataDir: string, user: SecretIdentity = loadLocalOperator(dataDir), hello: UserHello = { name: 'local operator' }): Promise<LocalBrokerClient> {
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
    const client = new LocalBrokerClient(connection);
    try {
      const brokerDid = readKeyFile(join(dataDir, BROKER_KEY_FILE)).did;
      await authenticateUser((method, params) => connection.sendRequest(method, params), user, brokerDid, hello);
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
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
