/**
 * What an agent-side party may send the hub, against a real broker (review findings 14c, 14d and 5's last
 * sentence): a person's key cannot pass for an agent; a registration nobody approved may renew its handshake
 * and nothing else, and cannot write one audit line per frame; an agent's progress reaches the sessions that
 * asked for or watch its intent, not every user of the broker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { IdType, seal, SecretIdentity } from '../../core/identity';
import { Notifications, RpcErrorCode } from '../../core/rpc/methods';
import type { ProgressBody } from '../../core/wire/intent';
import { waitFor, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { HubSocket, RogueAgent } from './support/rogue-agent';
import { call, expectRpcError, joinAs, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();
const sockets: HubSocket[] = [];
let broker: BrokerProcess;
let owner: Member;
let viewer: Member;

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  viewer = await joinAs(broker, owner, 'viewer', 'viewer');
});

after(async () => {
  for (const s of sockets) s.close();
  viewer?.client.close();
  await started.cleanup();
});

const rogueWith = (type: IdType, name: string) =>
  new RogueAgent(SecretIdentity.generate(type), broker.url, broker.did, { name, requested: ['list_files'], agentVersion: '0.0.0-rogue' });

async function connected(rogue: RogueAgent): Promise<HubSocket> {
  const { hub } = await bounded('rogue handshake', rogue.authenticate());
  sockets.push(hub);
  return hub;
}

/** Every progress notification `member`'s session receives, as intentId:seq. */
function progressSeen(member: Member): string[] {
  const seen: string[] = [];
  member.client.connection.onNotification(Notifications.intentProgress.method, (raw: unknown) => {
    const p = Notifications.intentProgress.params.parse(raw);
    seen.push(`${p.intentId}:${p.seq}`);
  });
  return seen;
}

const progress = (rogue: RogueAgent, intentId: string, seq: number) => {
  const body: ProgressBody = { intentId, agent: rogue.did, seq, stream: 'stdout', text: `line ${seq}`, at: Date.now() };
  return { type: 'progress', envelope: seal(rogue.identity, 'vaultysclaw/progress/v1', body) };
};

describe('agent-side frames', () => {
  test('Person key as agent: a handshake proving a person id is refused as not-a-machine-id, audited, and registers nothing', async () => {
    const person = rogueWith(IdType.Person, 'a-person');
    const hub = await HubSocket.connect(broker.url);
    sockets.push(hub);
    const initiator = person.newInitiator();
    hub.send({ type: 'auth/init', v: 1, challenge: initiator.init });
    const refused = await hub.next('error');
    assert.equal(refused.code, 'not-a-machine-id', refused.message);
    assert.deepEqual(await hub.waitClosed(), { code: 4001, reason: 'not-a-machine-id' });
    const line = await broker.log.waitFor('auth.refused', (l) => l.code === 'not-a-machine-id');
    assert.equal(line.idType, 'Person');
    const registered = await call(owner, 'registrationsList', {});
    assert.equal(registered.items.find((a) => a.did === person.did), undefined, 'no pending registration for a person id');
    // Control: a machine id with the same hello is admitted as pending.
    const machine = rogueWith(IdType.Machine, 'a-machine');
    const { hub: ok, status } = await bounded('machine handshake', machine.authenticate());
    sockets.push(ok);
    assert.equal(status, 'pending');
  });

  test('NUL in stored text (PostgreSQL cannot store it where SQLite could): a hello naming the agent with one is refused and registers nothing; a reason with one is InvalidParams', async () => {
    const nul = rogueWith(IdType.Machine, 'build\u0000er');
    const hub = await HubSocket.connect(broker.url);
    sockets.push(hub);
    hub.send({ type: 'auth/init', v: 1, challenge: nul.newInitiator().init });
    const refused = await hub.next('error');
    assert.match(refused.message, /not an agent hello/);
    const registered = await call(owner, 'registrationsList', {});
    assert.equal(registered.items.find((a) => a.did === nul.did), undefined, 'no registration for the NUL name');
    const machine = rogueWith(IdType.Machine, 'no-nul');
    const { hub: ok, status } = await bounded('machine handshake', machine.authenticate());
    sockets.push(ok);
    assert.equal(status, 'pending');
    await expectRpcError(call(owner, 'registrationsReject', { did: machine.did, reason: 'unknown\u0000host' }), RpcErrorCode.InvalidParams, /NUL/);
    const still = await call(owner, 'registrationsList', {});
    assert.equal(still.items.find((a) => a.did === machine.did)?.status, 'pending', 'the refused reason decided nothing');
  });

  test('Pending agent: progress or an approval request from a never-approved agent ends its connection (not-approved) with one audit line, not one per frame', async () => {
    for (const type of ['progress', 'approval/request'] as const) {
      const rogue = rogueWith(IdType.Machine, `pending-${type.replace('/', '-')}`);
      const hub = await connected(rogue);
      const mark = broker.log.lines.length;
      const envelope =
        type === 'progress' ? progress(rogue, 'a'.repeat(32), 0).envelope : seal(rogue.identity, 'vaultysclaw/approval-request/v1', { intentId: 'a'.repeat(32) });
      for (let i = 0; i < 50 && hub.socket.readyState === hub.socket.OPEN; i++) hub.send({ type, envelope });
      assert.deepEqual(await hub.waitClosed(10_000), { code: 4001, reason: 'not-approved' });
      await broker.log.waitFor('hub.not-approved', (l) => l.did === rogue.did && l.frame === type);
      await broker.log.waitFor('agent.offline', (l) => l.did === rogue.did);
      const lines = broker.log.lines.slice(mark).filter((l) => l.did === rogue.did && l.event !== 'agent.offline');
      assert.equal(lines.length, 1, `${type}: ${JSON.stringify(lines.map((l) => l.event))}`);
    }
    // A pending agent still renews its handshake: the frames it needs are not refused.
    const renewing = rogueWith(IdType.Machine, 'pending-renews');
    const hub = await connected(renewing);
    const again = await bounded('renewal', renewing.authenticate(hub));
    assert.equal(again.status, 'pending');
  });

  test('Pending agent: BUDGETS.pendingAgentResults kept results are each refused unknown-intent (so the agent drops them); one more ends the connection (not-approved)', async () => {
    const rogue = rogueWith(IdType.Machine, 'pending-results');
    const hub = await connected(rogue);
    const mark = broker.log.lines.length;
    const limit = BUDGETS.pendingAgentResults.limit;
    const ids = Array.from({ length: limit + 5 }, (_, i) => i.toString(16).padStart(32, '0'));
    for (const intentId of ids) hub.send({ type: 'result', envelope: rogue.result({ intentId, outcome: 'succeeded', reason: null, message: 'kept', output: null }) });
    assert.deepEqual(await hub.waitClosed(10_000), { code: 4001, reason: 'not-approved' });
    const refused = hub.frames.filter((f) => f.type === 'error');
    assert.deepEqual(refused.map((f) => f.code), [...Array(limit).fill('unknown-intent'), 'not-approved']);
    await broker.log.waitFor('agent.offline', (l) => l.did === rogue.did);
    const lines = broker.log.lines.slice(mark).filter((l) => l.did === rogue.did && l.event !== 'agent.offline');
    assert.equal(lines.length, limit + 1, JSON.stringify(lines.map((l) => l.event)));
  });

  test("Progress fan-out: an intent's progress reaches its requester's sessions and sessions that read it (the last BUDGETS.progressWatchesPerSession), not every user", async () => {
    const rogue = rogueWith(IdType.Machine, 'talker');
    (await connected(rogue)).close();
    await call(owner, 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['list_files'], maxRequestsPerHour: 1000 } });
    const hub = await connected(rogue);
    const ownerSaw = progressSeen(owner);
    const viewerSaw = progressSeen(viewer);
    const dispatch = async () => {
      const sent = await call(owner, 'intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: '.' } });
      assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
      return sent.id;
    };

    const first = await dispatch();
    hub.send(progress(rogue, first, 0));
    await waitFor('the requester to get seq 0', () => ownerSaw.includes(`${first}:0`));
    await call(viewer, 'intentsGet', { id: first }); // the viewer now watches it
    hub.send(progress(rogue, first, 1));
    await waitFor('the viewer to get seq 1', () => viewerSaw.includes(`${first}:1`));
    assert.deepEqual(viewerSaw, [`${first}:1`], 'the viewer got nothing before it watched the intent');

    // The watch list is bounded: of 1 + limit intents read in order, the first one is no longer watched.
    const ids: string[] = [];
    for (let i = 0; i <= BUDGETS.progressWatchesPerSession.limit; i++) ids.push(await dispatch());
    for (const id of ids) await call(viewer, 'intentsGet', { id });
    viewerSaw.length = 0;
    hub.send(progress(rogue, ids[0]!, 0)); // bound + 1 reads ago: dropped
    hub.send(progress(rogue, ids[1]!, 0)); // exactly the bound: still watched
    await waitFor('the progress of the intent read at the bound', () => viewerSaw.includes(`${ids[1]}:0`));
    await waitFor('the requester to get both', () => ownerSaw.includes(`${ids[0]}:0`) && ownerSaw.includes(`${ids[1]}:0`));
    assert.deepEqual(viewerSaw, [`${ids[1]}:0`]);
  });
});
