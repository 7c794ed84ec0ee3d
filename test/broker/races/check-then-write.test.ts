import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { Broker } from '../../../broker/broker';
import { AgentConnection } from '../../../broker/hub/agent-connection';
import { ChallengeInitiator, IdType, SecretIdentity } from '../../../core/identity';
import { AGENT_AUTH, HUB_PROTOCOL_VERSION, type BrokerFrame } from '../../../core/wire/hub-messages';
import type { PolicyInput } from '../../../core/rpc/views';
import { RpcError } from '../../../core/rpc/rpc-error';
import { removeDirs, tempDir } from '../../support/processes';

/**
 * Storage is asynchronous: between a caller's read and its write another caller runs. Each place that checks a
 * row and writes on what it saw does both in one statement or transaction, so of two callers started at once
 * exactly one wins and the other is told so; both then agree with what is stored.
 */
const policy = (maxRequestsPerHour: number): PolicyInput => ({ capabilities: ['read_file'], maxRequestsPerHour });
const hello = { name: 'builder', requested: ['read_file' as const], agentVersion: '0.5.0' };

/** One fulfilled, one refused with `reason`: returns the winner's value and its index. */
function oneWinner<T>(settled: PromiseSettledResult<T>[], reason: string): { value: T; index: number } {
  const won = settled.flatMap((s, index) => (s.status === 'fulfilled' ? [{ value: s.value, index }] : []));
  const lost = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  assert.equal(won.length, 1, `exactly one caller wins: ${JSON.stringify(settled.map((s) => s.status))}`);
  assert.equal(lost.length, settled.length - 1);
  for (const err of lost) assert.ok(err instanceof RpcError && err.reason === reason, `the loser is refused as ${reason}: ${String(err)}`);
  return won[0]!;
}

describe('check-then-write races: two concurrent callers, one winner, both agree (real broker, real SQLite file)', () => {
  const operator = SecretIdentity.generate(IdType.Person);
  const owner = { did: operator.did, role: 'owner' as const };
  let dir: string;
  let broker: Broker;
  let seen = 0;
  before(async () => {
    dir = tempDir('vc-races');
    broker = await Broker.open({ dataDir: dir, identity: SecretIdentity.generate(IdType.Machine), log: pino({ level: 'silent' }), localOperatorDid: operator.did });
    assert.equal((await broker.users.enroll(operator.id, { name: 'operator' }, 'host')).ok, true);
  });
  after(async () => {
    await broker.close();
    removeDirs(dir);
  });

  /** A pending registration, as a first handshake records it. */
  async function pendingAgent(): Promise<string> {
    const agent = SecretIdentity.generate(IdType.Machine);
    await broker.registry.recordSeen(agent.did, agent.id.toBase64(), hello, ++seen);
    return agent.did;
  }

  test('two admins approve one registration at once: one approval and one policy are kept, the other admin hears conflict', async () => {
    const did = await pendingAgent();
    const settled = await Promise.allSettled([
      broker.registrations.approve(owner.did, did, policy(11), false),
      broker.registrations.approve(owner.did, did, policy(22), false),
    ]);
    const { value } = oneWinner(settled, 'conflict');
    const stored = (await broker.directory.get(did))!;
    assert.equal(stored.status, 'approved');
    assert.equal(stored.policy!.policyVersion, 1, 'one policy write, not two');
    assert.equal(stored.policy!.maxRequestsPerHour, value.policy!.maxRequestsPerHour, "the stored policy is the winner's");
  });

  test('an approval and a rejection at once: the registration ends as the winner decided', async () => {
    const did = await pendingAgent();
    const settled = await Promise.allSettled([broker.registrations.approve(owner.did, did, policy(5), false), broker.registrations.reject(owner.did, did, 'unknown host')]);
    const { index } = oneWinner<unknown>(settled, 'conflict');
    const stored = (await broker.directory.get(did))!;
    assert.equal(stored.status, index === 0 ? 'approved' : 'rejected');
    assert.equal(stored.policy === null, index === 1, 'a rejected agent has no policy');
  });

  test('two revocations at once: one is recorded with its reason, the other hears conflict', async () => {
    const did = await pendingAgent();
    await broker.registrations.approve(owner.did, did, policy(5), false);
    const settled = await Promise.allSettled([broker.registrations.revoke(owner.did, did, 'first'), broker.registrations.revoke(owner.did, did, 'second')]);
    const { index } = oneWinner(settled, 'conflict');
    assert.equal((await broker.directory.get(did))!.statusReason, ['first', 'second'][index]);
  });

  test('two admins change one policy at once from the same version: one change is kept, the other hears conflict (no lost update)', async () => {
    const did = await pendingAgent();
    await broker.registrations.approve(owner.did, did, policy(5), false);
    const settled = await Promise.allSettled([broker.registrations.setPolicy(owner.did, did, policy(11), false), broker.registrations.setPolicy(owner.did, did, policy(22), false)]);
    const { value } = oneWinner(settled, 'conflict');
    const stored = (await broker.directory.get(did))!.policy!;
    assert.equal(stored.policyVersion, 2, 'one change over v1');
    assert.equal(stored.maxRequestsPerHour, value.policy!.maxRequestsPerHour);
  });

  test('two dispatches at once to an agent with one request left this hour: one is sent, the other refused rate-limited', async () => {
    const agent = SecretIdentity.generate(IdType.Machine);
    await broker.registry.recordSeen(agent.did, agent.id.toBase64(), hello, ++seen);
    await broker.registrations.approve(owner.did, agent.did, policy(1), false);
    // Connected in process through a real handshake: the broker's precheck needs the agent online.
    const sent: BrokerFrame[] = [];
    const connection = new AgentConnection(broker.keys, broker, { send: (f) => sent.push(f), close: () => undefined }, pino({ level: 'silent' }));
    const initiator = new ChallengeInitiator({ identity: agent, ...AGENT_AUTH, metadata: hello, acceptResponder: () => ({ ok: true, value: undefined }) });
    await connection.handle({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: initiator.init });
    const step1 = sent.find((f) => f.type === 'auth/step1');
    assert.ok(step1?.type === 'auth/step1');
    const answer = initiator.respond(step1.challenge);
    assert.ok(answer.ok);
    await connection.handle({ type: 'auth/complete', challenge: answer.value.complete });
    assert.ok(broker.online.isOnline(agent.did));
    const request = { agent: agent.did, capability: 'read_file' as const, params: { path: 'a' } };
    const views = await Promise.all([broker.router.dispatch(owner, request), broker.router.dispatch(owner, request)]);
    assert.deepEqual(views.map((v) => v.state).sort(), ['rejected', 'sent']);
    assert.equal(views.find((v) => v.state === 'rejected')!.reason, 'rate-limited');
    assert.equal(sent.filter((f) => f.type === 'intent').length, 1, 'one intent reached the agent');
  });

  test('two people join with one invitation at once: one user is added, the other is refused, the invitation is used by the winner', async () => {
    const { token, invitation } = await broker.users.invite(owner, 'operator', 60_000);
    const [alice, bob] = [SecretIdentity.generate(IdType.Person), SecretIdentity.generate(IdType.Person)];
    const admissions = await Promise.all([
      broker.users.enroll(alice.id, { name: 'alice', invitation: token }, 'network'),
      broker.users.enroll(bob.id, { name: 'bob', invitation: token }, 'network'),
    ]);
    assert.deepEqual(admissions.map((a) => a.ok).sort(), [false, true]);
    const winner = admissions[0]!.ok ? alice : bob;
    const loser = admissions[0]!.ok ? bob : alice;
    const refusal = admissions.find((a) => !a.ok);
    assert.equal(refusal && !refusal.ok && refusal.reason, 'invitation-invalid');
    assert.equal((await broker.users.view(winner.did))?.role, 'operator');
    assert.equal(await broker.users.view(loser.did), undefined, 'the loser was not added');
    const used = (await broker.users.pageInvitations({ limit: 50 })).items.find((i) => i.id === invitation.id)!;
    assert.deepEqual([used.state, used.usedBy], ['used', winner.did]);
  });

  test('two users renamed to one name at once: one takes it, the other hears conflict and keeps their name', async () => {
    const joined = [];
    for (const name of ['carol', 'dave']) {
      const { token } = await broker.users.invite(owner, 'viewer', 60_000);
      const person = SecretIdentity.generate(IdType.Person);
      assert.equal((await broker.users.enroll(person.id, { name, invitation: token }, 'network')).ok, true);
      joined.push(person.did);
    }
    const settled = await Promise.allSettled(joined.map((did) => broker.users.rename(owner, did, 'erin')));
    const { index } = oneWinner(settled, 'conflict');
    assert.equal((await broker.users.view(joined[index]!))!.name, 'erin');
    assert.equal((await broker.users.view(joined[1 - index]!))!.name, ['carol', 'dave'][1 - index]);
  });
});

describe('the first owner of a broker, raced by two principals of its host (real broker, real SQLite file)', () => {
  test('two host principals enrol at once on a broker nobody joined: exactly one becomes owner, the other needs an invitation', async () => {
    const dir = tempDir('vc-races-owner');
    const broker = await Broker.open({ dataDir: dir, identity: SecretIdentity.generate(IdType.Machine), log: pino({ level: 'silent' }) });
    try {
      const [first, second] = [SecretIdentity.generate(IdType.Person), SecretIdentity.generate(IdType.Person)];
      const admissions = await Promise.all([broker.users.enroll(first.id, { name: 'first' }, 'host'), broker.users.enroll(second.id, { name: 'second' }, 'host')]);
      assert.deepEqual(admissions.map((a) => a.ok).sort(), [false, true]);
      const refusal = admissions.find((a) => !a.ok);
      assert.equal(refusal && !refusal.ok && refusal.reason, 'invitation-needed');
      const owners = (await broker.users.page({ limit: 10 })).items.filter((u) => u.role === 'owner');
      assert.equal(owners.length, 1, 'one owner, not two');
    } finally {
      await broker.close();
      removeDirs(dir);
    }
  });
});
