import { createMessageConnection, type MessageConnection } from 'vscode-jsonrpc/node';
import { WebSocketMessageReader, WebSocketMessageWriter } from '../../core/rpc/websocket-transport';
import { BrokerTlsError, openBrokerWebSocket, type BrokerTls } from '../../core/wire/broker-tls';
import { CloseCode } from '../../core/wire/close-codes';
import { rpcUrl } from '../../core/wire/broker-url';
import type { SecretIdentity } from '../../core/identity';
import type { RpcEndpoint } from '../../core/rpc/rpc-client';
import { rpcErrorReason } from '../../core/rpc/rpc-error';
import type { UserHello } from '../../core/rpc/user-auth';
import { BrokerSession, describeRpcError, needsInvitation } from './broker-session';
import { PermanentConnectError, type Connected } from './supervisor';

export interface OpenChannel {
  endpoint: RpcEndpoint;
  /** Resolves once, with why, when the channel is gone (whoever closed it). */
  closed: Promise<string>;
  close(): void;
}


/** Wraps a vscode-jsonrpc connection (already listening) as an RpcEndpoint. */
export function connectionEndpoint(connection: MessageConnection): RpcEndpoint {
  return {
    sendRequest: (method, params) => connection.sendRequest(method, params) as Promise<unknown>,
    onNotification: (method, handler) => connection.onNotification(method, handler as (params: unknown) => void),
  };
}

/**
 * Opens JSON-RPC over WebSocket to a team broker (ws:// or wss://). Only the
 * transport: the caller proves the user's id, pinned to the broker DID,
 * before it trusts anything that arrives.
 */
export async function openTeamBroker(hubUrl: string, tls?: BrokerTls, timeoutMs = 15_000): Promise<OpenChannel> {
  const socket = await openBrokerWebSocket(rpcUrl(hubUrl), tls, timeoutMs);
  const connection = createMessageConnection(new WebSocketMessageReader(socket), new WebSocketMessageWriter(socket));
  let closedWith: (why: string) => void = () => undefined;
  const closed = new Promise<string>((resolve) => (closedWith = resolve));
  socket.on('close', (code, reason) => closedWith(`the connection to ${hubUrl} closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`));
  socket.on('error', (err) => closedWith(`the connection to ${hubUrl} failed: ${err.message}`));
  connection.onClose(() => closedWith(`the connection to ${hubUrl} closed`));
  connection.listen();
  return {
    endpoint: connectionEndpoint(connection),
    closed,
    close: () => {
      connection.dispose();
      socket.close(CloseCode.Normal);
    },
  };
}

/**
 * Attaches to a team broker and proves the user's id, the broker pinned to
 * `brokerDid`. A broker proving another key, or refusing the user, is a
 * permanent failure (retrying cannot fix it); an unreachable one is not.
 */
export async function connectTeamBroker(hubUrl: string, brokerDid: string, identity: SecretIdentity, hello: UserHello, tls?: BrokerTls): Promise<Connected> {
  const channel = await openTeamBroker(hubUrl, tls).catch((err: Error) => {
    // A certificate that does not verify, or is not the pinned one, stays so on every retry.
    if (tls && err instanceof BrokerTlsError && err.reason !== 'unreachable') throw new PermanentConnectError(`${hubUrl}: ${err.message}. Check vaultysclaw.brokerCaFile / vaultysclaw.brokerTlsPin with the broker's admin.`, 'openSettings');
    throw err;
  });
  let session: BrokerSession;
  try {
    session = await BrokerSession.open(channel.endpoint, identity, brokerDid, hello);
  } catch (err) {
    channel.close();
    throw sessionRefusal(hubUrl, err);
  }
  return {
    session,
    label: hubUrl,
    closed: channel.closed,
    close: async () => channel.close(),
  };
}

/**
 * What a failed handshake with a team broker means, decided by its reason (never its wording): permanent when
 * retrying cannot fix it (another broker than the pinned one, a key the broker does not know, a removed user).
 */
export function sessionRefusal(hubUrl: string, err: unknown): Error {
  const message = describeRpcError(err);
  const reason = rpcErrorReason(err);
  if (reason === 'broker-not-pinned') return new PermanentConnectError(`${hubUrl} is not the pinned broker: ${message}. Check vaultysclaw.brokerDid with the broker's admin.`, 'openSettings');
  if (needsInvitation(err)) return new PermanentConnectError(`${hubUrl} does not know your key yet: ${message}`, 'enterInvitation');
  if (reason === 'user-removed') return new PermanentConnectError(message);
  return new Error(`could not authenticate to ${hubUrl}: ${message}`);
}
