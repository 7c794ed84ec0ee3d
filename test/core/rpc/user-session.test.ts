// The user's half of the session handshake against a broker's half built from the real ChallengeResponder in this
// process: real keys, real signatures; each refusal is asserted by its reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TrustMemory } from '../../../core/authority/trust-memory';
import { ChallengeResponder, IdType, SecretIdentity } from '../../../core/identity';
import { SessionMethods } from '../../../core/rpc/methods';
import { rpcErrorReason } from '../../../core/rpc/rpc-error';
import { USER_AUTH } from '../../../core/rpc/user-auth';
import { authenticateUser, type SendRequest } from '../../../core/rpc/user-session';

const user = SecretIdentity.generate(IdType.Person);
const broker = SecretIdentity.generate(IdType.Machine);

/** A broker that certifies `metadata` as the user's grant; `tamper` changes its step-1 answer on the wire. Records the methods called. */
function brokerSide(metadata: unknown, tamper: (step1: Uint8Array) => Uint8Array = (b) => b): { send: SendRequest; calls: string[] } {
  const calls: string[] = [];
  let responder: ChallengeResponder | undefined;
  const send = (async (method: string, params: unknown): Promise<unknown> => {
    calls.push(method);
    const challenge = new Uint8Array(Buffer.from((params as { challenge: string }).challenge, 'base64'));
    if (method === SessionMethods.init.method) {
      responder = new ChallengeResponder({ identity: broker, ...USER_AUTH, admit: () => ({ ok: true, value: { metadata } }) });
      const accepted = responder.accept(challenge);
      if (!accepted.ok) throw new Error(accepted.message);
      return { challenge: Buffer.from(tamper(accepted.value.step1)).toString('base64') };
    }
    const done = responder!.complete(challenge);
    if (!done.ok) throw new Error(done.message);
    const now = Date.now();
    return { user: { did: done.value.initiator.did, name: 'alice', role: 'operator', roleSetBy: null, invitedBy: null, removed: false, createdAt: now, lastSeen: now } };
  }) as SendRequest;
  return { send, calls };
}

async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('the handshake succeeded but must be refused'),
    (err: unknown) => err,
  );
}

describe('authenticateUser', () => {
  test('with the pinned broker and a certified role, the user co-signs and learns its grant and its user view', async () => {
    const { send, calls } = brokerSide({ role: 'operator', brokerName: 'ci' });
    const session = await authenticateUser(send, user, broker.did, { name: 'alice' }, new TrustMemory());
    assert.deepEqual(session.grant, { role: 'operator', brokerName: 'ci' });
    assert.equal(session.user.did, user.did);
    assert.deepEqual(calls, [SessionMethods.init.method, SessionMethods.complete.method]);
  });

  test('a broker that is not the pinned one is refused as broker-not-pinned, before the user signs anything', async () => {
    const { send, calls } = brokerSide({ role: 'operator', brokerName: 'ci' });
    const other = SecretIdentity.generate(IdType.Machine);
    const err = await refusal(authenticateUser(send, user, other.did, { name: 'alice' }, new TrustMemory()));
    assert.equal(rpcErrorReason(err), 'broker-not-pinned');
    assert.match((err as Error).message, new RegExp(`not the pinned ${other.did}`));
    assert.deepEqual(calls, [SessionMethods.init.method], 'no complete message: the user did not co-sign');
  });

  test('the pinned broker that certifies no role is refused as no-role-certified', async () => {
    const { send, calls } = brokerSide({ role: 'superuser', brokerName: 'ci' });
    const err = await refusal(authenticateUser(send, user, broker.did, { name: 'alice' }, new TrustMemory()));
    assert.equal(rpcErrorReason(err), 'no-role-certified');
    assert.deepEqual(calls, [SessionMethods.init.method]);
  });

  test('a step-1 answer altered on the way is refused as broker-handshake-refused', async () => {
    const { send } = brokerSide({ role: 'operator', brokerName: 'ci' }, (step1) => {
      const altered = new Uint8Array(step1);
      altered[altered.length - 1]! ^= 1;
      return altered;
    });
    const err = await refusal(authenticateUser(send, user, broker.did, { name: 'alice' }, new TrustMemory()));
    assert.equal(rpcErrorReason(err), 'broker-handshake-refused');
  });
});
