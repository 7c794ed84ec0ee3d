// Every refusal a real broker answers carries its reason in data.reason (core/rpc/rpc-error.ts), with the
// JSON-RPC code the reason table gives it; the client's own refusal of a broker that is not the pinned one
// carries one too. Callers branch on these reasons, never on the words beside them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { BrokerClient } from '../../../broker/cli/broker-client';
import { IdType, SecretIdentity } from '../../../core/identity';
import { Methods, RpcErrorCode, SessionMethods } from '../../../core/rpc/methods';
import { RPC_ERROR_CODES, type RpcErrorReason } from '../../../core/rpc/rpc-error';
import type { BrokerProcess } from '../../support/processes';
import { exitIfHeldOpen, Started } from '../../support/started';
import { call, connectAttempt, joinAs, ownerOf, RawRpc, rpcError, type Member } from '../../attacks/support/team';

exitIfHeldOpen();
const started = new Started();
const closing: { close(): void }[] = [];
let broker: BrokerProcess;
let owner: Member;

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
});

after(async () => {
  for (const c of closing.splice(0)) c.close();
  await started.cleanup();
});

/** The refusal `promise` ends with: `reason`, with its code from the table. */
async function expectReason(promise: Promise<unknown>, reason: RpcErrorReason, what: string): Promise<string> {
  const error = await rpcError(promise, what);
  assert.equal(error.reason, reason, `${what}: ${error.code} ${error.message}`);
  assert.equal(error.code, RPC_ERROR_CODES[reason], `${what}: code`);
  return error.message;
}

const person = () => SecretIdentity.generate(IdType.Person);

describe('the session handshake says why it refuses', () => {
  test('a stranger without an invitation: invitation-needed; with one nobody issued: invitation-invalid', async () => {
    await expectReason(connectAttempt(broker, person(), 'stranger'), 'invitation-needed', 'no invitation');
    await expectReason(connectAttempt(broker, person(), 'stranger', randomBytes(32).toString('base64url')), 'invitation-invalid', 'unknown invitation');
  });

  test('a used invitation: invitation-invalid; a name another user holds: name-taken', async () => {
    const { token } = await call(owner, 'invitationsCreate', { role: 'viewer' });
    const first = await BrokerClient.connectRemote(broker.url, broker.did, person(), { name: 'first-user', invitation: token });
    closing.push(first);
    await expectReason(connectAttempt(broker, person(), 'second-user', token), 'invitation-invalid', 'used invitation');
    const fresh = await call(owner, 'invitationsCreate', { role: 'viewer' });
    await expectReason(connectAttempt(broker, person(), 'first-user', fresh.token), 'name-taken', 'taken name');
  });

  test('a removed user: user-removed, at every login', async () => {
    const removed = await joinAs(broker, owner, 'viewer', 'to-be-removed');
    removed.client.close();
    await call(owner, 'usersRemove', { did: removed.did });
    await expectReason(connectAttempt(broker, removed.identity, 'to-be-removed'), 'user-removed', 'removed user');
  });

  test('out of order, malformed, twice: handshake-refused and already-authenticated; before it: unauthenticated', async () => {
    const raw = await RawRpc.connect(broker.url);
    closing.push(raw);
    await expectReason(raw.request(Methods.usersList.method, {}), 'unauthenticated', 'a method before the handshake');
    await expectReason(raw.request(SessionMethods.complete.method, { challenge: 'AAAA' }), 'handshake-refused', 'complete without init');
    await expectReason(raw.request(SessionMethods.init.method, { challenge: 'AAAA' }), 'handshake-refused', 'a malformed INIT');
    await expectReason(raw.request(SessionMethods.init.method, { challenge: 42 }), 'invalid-params', 'a challenge that is not base64');
    await expectReason(owner.client.connection.sendRequest(SessionMethods.init.method, { challenge: 'AAAA' }), 'already-authenticated', 'a second handshake');
  });

  test('the client refuses a broker that does not prove the pinned DID: broker-not-pinned (code Refused), with the words it always had', async () => {
    const other = SecretIdentity.generate(IdType.Machine).did;
    // The host operator is always admitted: the broker answers, and it is the client that refuses.
    const message = await expectReason(BrokerClient.connectRemote(broker.url, other, owner.identity, { name: 'pinning' }), 'broker-not-pinned', 'another pin');
    assert.equal(RPC_ERROR_CODES['broker-not-pinned'], RpcErrorCode.Refused);
    assert.match(message, new RegExp(`^the broker failed authentication \\(peer-refused\\): broker proved ${broker.did}, not the pinned ${other}$`));
  });
});

describe('requests say why they are refused', () => {
  test('RBAC, params, unknown things, rules and states: role-forbidden, invalid-params, not-found, forbidden, conflict', async () => {
    const viewer = await joinAs(broker, owner, 'viewer', 'a-viewer');
    closing.push(viewer.client);
    await expectReason(call(viewer, 'usersRemove', { did: owner.did }), 'role-forbidden', 'a viewer removes a user');
    await expectReason(call(owner, 'agentsGet', { did: 'not a did' }), 'invalid-params', 'a malformed DID');
    await expectReason(call(owner, 'agentsGet', { did: SecretIdentity.generate(IdType.Machine).did }), 'not-found', 'an unknown agent');
    await expectReason(call(owner, 'usersRemove', { did: owner.did }), 'forbidden', 'the owner removes themselves');
    const { invitation } = await call(owner, 'invitationsCreate', { role: 'viewer' });
    await call(owner, 'invitationsRevoke', { id: invitation.id });
    await expectReason(call(owner, 'invitationsRevoke', { id: invitation.id }), 'conflict', 'an invitation revoked twice');
  });
});
