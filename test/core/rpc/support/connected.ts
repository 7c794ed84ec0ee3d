// A broker-side and a client-side vscode-jsonrpc connection in this process, joined by two in-memory pipes:
// what the tests of the RPC client and of its error reasons talk over.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach } from 'node:test';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { RpcClient } from '../../../../core/rpc/rpc-client';

const open: MessageConnection[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.dispose();
});

/** A broker-side connection (set up by `serve`) and a client-side one, joined by two in-memory pipes. */
export function connected(serve: (server: MessageConnection) => void): RpcClient {
  const up = new PassThrough();
  const down = new PassThrough();
  const server = createMessageConnection(new StreamMessageReader(up), new StreamMessageWriter(down));
  const client = createMessageConnection(new StreamMessageReader(down), new StreamMessageWriter(up));
  open.push(server, client);
  serve(server);
  server.listen();
  client.listen();
  return new RpcClient(client);
}

export async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return assert.fail('the call succeeded but must fail');
}
