// The one typed client (core/rpc/rpc-client.ts) and the error reasons (core/rpc/rpc-error.ts) over a real
// vscode-jsonrpc connection pair in this process: what a handler throws is what the caller reads, by reason.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { afterEach, describe, test } from 'node:test';
import { createMessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { IdType, SecretIdentity } from '../../../core/identity';
import { Methods, RpcErrorCode, type BrokerInfo, type MethodName } from '../../../core/rpc/methods';
import { RpcClient } from '../../../core/rpc/rpc-client';
import { requestType } from '../../../core/rpc/rpc-contract';
import { RPC_ERROR_CODES, RpcError, RpcErrorReason, rpcErrorReason } from '../../../core/rpc/rpc-error';

const INFO: BrokerInfo = {
  did: SecretIdentity.generate(IdType.Machine).did,
  fingerprint: 'AAAA BBBB',
  id: 'aWQ=',
  hubUrl: null,
  root: null,
  certificate: null,
};

const open: MessageConnection[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.dispose();
});

/** A broker-side connection (set up by `serve`) and a client-side one, joined by two in-memory pipes. */
function connected(serve: (server: MessageConnection) => void): RpcClient {
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

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  return assert.fail('the call succeeded but must fail');
}

describe('RpcClient.call', () => {
  test('sends the method of the table with the params as given, and resolves to the validated result', async () => {
    const received: unknown[] = [];
    const client = connected((server) =>
      server.onRequest(requestType('brokerInfo'), (params) => {
        received.push(params);
        return INFO;
      }),
    );
    assert.deepEqual(await client.call('brokerInfo', {}), INFO);
    assert.deepEqual(received, [{}]);
  });

  test('a result outside the method\'s schema is refused with reason invalid-result, never handed on', async () => {
    const client = connected((server) => server.onRequest(Methods.brokerInfo.method, () => ({ ...INFO, did: 42 })));
    const err = await failure(client.call('brokerInfo', {}));
    assert.equal(rpcErrorReason(err), 'invalid-result');
    assert.equal((err as RpcError).code, RpcErrorCode.Internal);
    assert.match((err as Error).message, /^vaultysclaw\/broker\/info answered a result this client does not understand: did: /);
  });
});

describe('error reasons', () => {
  test('every reason a handler throws reaches the caller as that reason, with the code the table gives it', async () => {
    const client = connected((server) =>
      server.onRequest(requestType('brokerInfo'), (params) => {
        throw new RpcError(RpcErrorReason.parse((params as { reason?: unknown }).reason ?? 'internal'), 'a message for people');
      }),
    );
    // The client's types know no `reason` param: this test's server reads it to pick what to throw.
    const untyped = client.call.bind(client) as (method: MethodName, params: unknown) => Promise<unknown>;
    for (const reason of RpcErrorReason.options) {
      const err = await failure(untyped('brokerInfo', { reason }));
      assert.ok(err instanceof ResponseError, `${reason}: ${String(err)}`);
      assert.equal(rpcErrorReason(err), reason);
      assert.equal(err.code, RPC_ERROR_CODES[reason], reason);
      assert.equal(err.message, 'a message for people');
    }
  });

  test('an RpcError, and a subclass of it, is an instance of its own class (ResponseError resets the prototype)', () => {
    class Refusal extends RpcError {}
    const err = new Refusal('conflict', 'already decided');
    assert.ok(err instanceof Refusal && err instanceof RpcError && err instanceof ResponseError);
    assert.deepEqual(err.toJson(), { code: RpcErrorCode.Conflict, message: 'already decided', data: { reason: 'conflict' } });
  });

  test('the reason is read from data alone: reworded, the error keeps it; the same words without data have none', async () => {
    const words = 'you are not a user of this broker: ask an admin for an invitation';
    const client = connected((server) => {
      server.onRequest(requestType('usersList'), () => {
        throw new ResponseError(RpcErrorCode.Unauthenticated, 'entirely different words', { reason: 'invitation-needed' });
      });
      server.onRequest(requestType('agentsList'), () => {
        throw new ResponseError(RpcErrorCode.Unauthenticated, words);
      });
      server.onRequest(requestType('intentsList'), () => {
        throw new ResponseError(RpcErrorCode.Unauthenticated, words, { reason: 'not-a-reason' });
      });
    });
    assert.equal(rpcErrorReason(await failure(client.call('usersList', {}))), 'invitation-needed');
    assert.equal(rpcErrorReason(await failure(client.call('agentsList', {}))), undefined);
    assert.equal(rpcErrorReason(await failure(client.call('intentsList', {}))), undefined, 'a reason outside the enum is no reason');
    assert.equal(rpcErrorReason(new Error(words)), undefined);
  });
});
