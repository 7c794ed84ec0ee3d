import { connect } from 'node:net';
import { join } from 'node:path';
import { createMessageConnection, SocketMessageReader, type MessageConnection } from 'vscode-jsonrpc/node';
import { SocketMessageWriter } from '../../core/rpc/socket-message-writer';
import { WebSocketMessageReader, WebSocketMessageWriter } from '../../core/rpc/websocket-transport';
import type WebSocket from 'ws';
import { BrokerTlsError, openBrokerWebSocket, type BrokerTls } from '../../core/wire/broker-tls';
import { rpcUrl } from '../../core/wire/broker-url';
import { RpcClient } from '../../core/rpc/rpc-client';
import { CloseCode } from '../../core/wire/close-codes';
import { LOCAL_SOCKET } from '../rpc/local-socket';
import { readKeyFile, type SecretIdentity } from '../../core/identity';
import type { UserHello } from '../../core/rpc/user-auth';
import type { UserView } from '../../core/rpc/views';
import { authenticateUser } from '../../core/rpc/user-session';
import { BROKER_KEY_FILE } from '../broker-identity';
import { loadLocalOperator } from '../local-operator';

/** The /rpc socket of the first of `urls` that answers; when none does, why each could not be reached. */
async function firstReachable(urls: readonly string[], tls: BrokerTls | undefined): Promise<WebSocket> {
  const failures: unknown[] = [];
  for (const url of urls) {
    try {
      return await openBrokerWebSocket(rpcUrl(url), tls);
    } catch (err) {
      if (err instanceof BrokerTlsError && err.reason !== 'unreachable') throw err;
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  throw new Error(failures.length === 0 ? 'no broker URL given' : failures.map((err) => (err as Error).message).join('; '));
}

/** No broker listens on the data directory's local socket: a caller may go on without one. */
export class BrokerNotRunningError extends Error {
  override readonly name = 'BrokerNotRunningError';
}

/** The CLI's client of a running broker (the one typed client, RpcClient): on its local socket, or on a team broker's /rpc WebSocket. */
export class BrokerClient extends RpcClient {
  /** The user this client proved to be, as the broker knows them. */
  user?: UserView;
  readonly #listeners = new Map<string, Set<(params: unknown) => void>>();

  private constructor(
    readonly connection: MessageConnection,
    private readonly closeTransport: () => void,
  ) {
    super(connection);
  }

  /**
   * Over a team broker's WebSocket, as the user holding `user`, pinned to `brokerDid`; its TLS checked as `tls` says.
   * Given several URLs (every node of a cluster), the first that can be reached serves: a node that is down is
   * passed over, but a TLS certificate that does not verify is never (a man in the middle, not an outage).
   */
  static async connectRemote(urls: string | readonly string[], brokerDid: string, user: SecretIdentity, hello: UserHello, tls?: BrokerTls): Promise<BrokerClient> {
    const socket = await firstReachable(typeof urls === 'string' ? [urls] : urls, tls);
    const connection = createMessageConnection(new WebSocketMessageReader(socket), new WebSocketMessageWriter(socket));
    return BrokerClient.#authenticate(connection, () => socket.close(CloseCode.Normal), brokerDid, user, hello);
  }

  /**
   * Connects and proves a user id: by default the broker host's local operator
   * (operator.key in the data directory, the first user and so the owner of a
   * fresh broker). The broker is pinned to the key in the same data directory.
   */
  static async connect(dataDir: string, user: SecretIdentity = loadLocalOperator(dataDir), hello: UserHello = { name: 'local operator' }): Promise<BrokerClient> {
    const path = join(dataDir, LOCAL_SOCKET);
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new BrokerNotRunningError(`no broker is running with data directory ${dataDir}`) : new Error(err.message)),
      );
    });
    const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    return BrokerClient.#authenticate(connection, () => socket.destroy(), readKeyFile(join(dataDir, BROKER_KEY_FILE)).did, user, hello);
  }

  static async #authenticate(
    connection: MessageConnection,
    closeTransport: () => void,
    brokerDid: string,
    user: SecretIdentity,
    hello: UserHello,
  ): Promise<BrokerClient> {
    // A broker that dies mid-request must fail the call, not leave it pending forever.
    connection.onClose(() => connection.dispose());
    connection.listen();
    const client = new BrokerClient(connection, closeTransport);
    try {
      client.user = (await authenticateUser((method, params) => connection.sendRequest(method, params), user, brokerDid, hello)).user;
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  /**
   * Hears a broker notification beside every other listener of it: vscode-jsonrpc keeps one handler per method, so
   * a second onNotification would silently replace the first (two intents `broker mcp` waits for at once).
   */
  listen(method: string, handler: (params: unknown) => void): { dispose(): void } {
    let handlers = this.#listeners.get(method);
    if (!handlers) {
      const set = new Set<(params: unknown) => void>();
      this.connection.onNotification(method, (params: unknown) => {
        for (const h of [...set]) h(params);
      });
      this.#listeners.set(method, set);
      handlers = set;
    }
    const own = handlers;
    own.add(handler);
    return { dispose: () => own.delete(handler) };
  }

  close(): void {
    this.connection.dispose();
    this.closeTransport();
  }
}
