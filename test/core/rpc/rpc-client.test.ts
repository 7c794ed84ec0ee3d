// The one typed client (core/rpc/rpc-client.ts) over a real vscode-jsonrpc connection pair in this process:
// it sends the table's method and hands on only a result that matches the method's schema.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IdType, SecretIdentity } from '../../../core/identity';
import { Methods, RpcErrorCode, type BrokerInfo } from '../../../core/rpc/methods';
import { requestType } from '../../../core/rpc/rpc-contract';
import { rpcErrorReason, type RpcError } from '../../../core/rpc/rpc-error';
import { connected, failure } from './support/connected';

const INFO: BrokerInfo = {
  did: SecretIdentity.generate(IdType.Machine).did,
  fingerprint: 'AAAA BBBB',
  id: 'aWQ=',
  hubUrl: null,
  root: null,
  certificate: null,
};

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
