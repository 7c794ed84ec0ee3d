// The error reasons (core/rpc/rpc-error.ts), over a real vscode-jsonrpc connection pair in this process where they
// cross one: what a handler throws is what the caller reads, by reason, never by its words.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc';
import { RpcErrorCode, type MethodName } from '../../../core/rpc/methods';
import { requestType } from '../../../core/rpc/rpc-contract';
import { RPC_ERROR_CODES, RpcError, RpcErrorReason, rpcErrorReason } from '../../../core/rpc/rpc-error';
import { connected, failure } from './support/connected';

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

describe('reasons and codes', () => {
  test('each reason has its class: the client\'s own refusals of the broker are Refused, and only they are', () => {
    const clientSide = ['broker-not-pinned', 'no-role-certified', 'broker-handshake-refused'];
    for (const reason of RpcErrorReason.options) {
      assert.equal(RPC_ERROR_CODES[reason] === RpcErrorCode.Refused, clientSide.includes(reason), reason);
    }
    assert.equal(RPC_ERROR_CODES['invalid-params'], RpcErrorCode.InvalidParams);
    assert.equal(RPC_ERROR_CODES['role-forbidden'], RpcErrorCode.Forbidden);
    assert.equal(RPC_ERROR_CODES['not-found'], RpcErrorCode.NotFound);
    assert.equal(RPC_ERROR_CODES['storage-failed'], RpcErrorCode.Internal);
  });

  test('the reason is read by shape from another copy\'s error, and never from a value that is not one', () => {
    assert.equal(rpcErrorReason({ code: -32001, message: 'x', data: { reason: 'unauthenticated' } }), 'unauthenticated');
    for (const value of [null, undefined, 'not-found', 42, { data: null }, { data: { reason: 'made-up' } }]) {
      assert.equal(rpcErrorReason(value), undefined, JSON.stringify(value));
    }
  });
});
