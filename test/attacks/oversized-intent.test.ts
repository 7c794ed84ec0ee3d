/**
 * Review finding 4 (high): an operator dispatched write_file with 1 000 000 × "é" — within the character
 * limit, 2 MB of UTF-8. The broker signed an envelope larger than any receiver accepts; the agent dropped the
 * frame and reconnected, the broker resent it, for ever, across restarts: the agent was offline for everyone.
 * Against a real broker and agent: such an intent is refused before anything is signed, limits on bytes are
 * counted in bytes, an agent answers an intent it cannot decode with a signed refusal, and an intent that keeps
 * ending its agent's connection ends after BUDGETS.intentResends resends, a broker restart included.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadBrokerIdentity } from '../../broker/broker-identity';
import { openDatabase } from '../../broker/store/database';
import { IntentStore } from '../../broker/store/intent-store';
import { openSqliteStorage } from '../../broker/store/sql/sqlite-storage';
import { BUDGETS } from '../../core/budgets';
import { IdType, seal, SecretIdentity } from '../../core/identity';
import type { IntentBody } from '../../core/wire/intent';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { approve, assertAlive, bounded } from './support/fleet';
import { RogueAgent, type HubSocket } from './support/rogue-agent';
import { assertAgentRefused, assertBrokerRefused, assertSucceeded, call, ownerOf, runAs, type Member } from './support/team';

exitIfHeldOpen(40_000);
const started = new Started();
const sockets: HubSocket[] = [];

let broker: BrokerProcess;
let agent: AgentProcess;
let owner: Member;

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, name: 'writer', request: 'list_files,write_file' });
  await approve(broker, agent, ['list_files', 'write_file']);
});

after(async () => {
  for (const s of sockets) s.close();
  await started.cleanup();
});

const disconnects = () => agent.log.lines.filter((l) => l.event === 'hub.disconnected').length;

async function restartBroker(): Promise<void> {
  const port = Number(new URL(broker.url).port);
  await broker.stop();
  broker = await started.broker({ dataDir: broker.dataDir, port });
  owner = ownerOf(broker);
}

describe('an intent larger than the wire carries', () => {
  test('Oversized intent: write_file with 1 000 000 × "é" is refused by the broker before signing (bad-params, with the size), and the agent stays online', async () => {
    const before = disconnects();
    const sent = await runAs(owner, agent.did, 'write_file', { path: 'e.txt', content: 'é'.repeat(1_000_000), mode: 'create' });
    assertBrokerRefused(sent, 'bad-params', /bytes/);
    assert.match(sent.message ?? '', new RegExp(String(BUDGETS.writeFileBytes.limit)));
    // The agent never saw it: it is online and answers the next intent on the same connection.
    assertSucceeded(await runAs(owner, agent.did, 'list_files', { path: '.' }));
    assert.equal(disconnects(), before, 'the agent was never disconnected');
    assert.ok((await call(owner, 'agentsGet', { did: agent.did })).online);
  });

  test('Multi-byte content is bounded in bytes: BUDGETS.writeFileBytes bytes of "é" are written, one byte more is refused before signing', async () => {
    const limit = BUDGETS.writeFileBytes.limit;
    const atBound = 'é'.repeat(limit / 2);
    assertSucceeded(await runAs(owner, agent.did, 'write_file', { path: 'bound.txt', content: atBound, mode: 'create' }));
    assert.equal(readFileSync(join(agent.workspace, 'bound.txt')).length, limit);
    const over = await runAs(owner, agent.did, 'write_file', { path: 'over.txt', content: `${atBound}x`, mode: 'create' });
    assertBrokerRefused(over, 'bad-params', new RegExp(`at most ${limit} bytes`));
  });

  test('An agent that cannot decode an intent (signed by a broker from before the limit) answers it with a signed refusal and keeps its connection', async () => {
    // A pre-fix broker's state: an oversized intent it signed and left in flight, which the new broker resends at the agent's next handshake.
    const port = Number(new URL(broker.url).port);
    await broker.stop();
    const { identity } = loadBrokerIdentity(broker.dataDir);
    const db = openDatabase(join(broker.dataDir, 'broker.db'));
    const now = Date.now();
    const intent: IntentBody = {
      id: randomBytes(16).toString('hex'),
      agent: agent.did,
      capability: 'write_file',
      params: { path: 'old.txt', content: 'é'.repeat(1_000_000), mode: 'create' },
      user: owner.did,
      delegation: { payload: new Uint8Array(), signature: new Uint8Array() },
      revocationVersion: 0,
      issuedAt: now,
      expiresAt: now + 60_000,
    };
    const storage = openSqliteStorage(db);
    await (await IntentStore.open(storage, now)).recordSent(intent, seal(identity, 'vaultysclaw/intent/v1', intent), now);
    await storage.close();
    db.close();
    const mark = agent.log.lines.length;
    broker = await started.broker({ dataDir: broker.dataDir, port });
    owner = ownerOf(broker);

    const refused = await waitFor('the signed refusal', async () => {
      const view = await call(owner, 'intentsGet', { id: intent.id });
      return view.state === 'rejected' ? view : undefined;
    }, 30_000);
    assertAgentRefused(refused, 'malformed', /intent frame/);
    const line = await agent.log.waitFor('intent.refused', (l) => l.claimedId === intent.id);
    assert.equal(line.reason, 'malformed');
    assert.equal(agent.log.lines.slice(mark).filter((l) => l.event === 'hub.bad-frame').length, 0, 'the agent did not drop the connection over it');
    assertSucceeded(await runAs(owner, agent.did, 'list_files', { path: '.' }));
  });

  test('Resend loop: an intent whose agent drops its connection every time it is sent is resent BUDGETS.intentResends times, across a broker restart, then ends lost-agent', async () => {
    const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'dropper', requested: ['list_files'], agentVersion: '0.0.0-rogue' });
    (await bounded('rogue handshake', rogue.authenticate())).hub.close();
    await call(owner, 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['list_files'] } });
    const connect = async () => {
      const { hub } = await bounded('rogue handshake', rogue.authenticate());
      sockets.push(hub);
      return hub;
    };
    let hub = await connect();
    const sent = await call(owner, 'intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: '.' } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    const resent = () => broker.log.lines.filter((l) => l.event === 'intent.resent' && l.intentId === sent.id).length;
    let received = 0;
    // Each time: take the intent, drop the connection, come back. Resends up to the bound, one restart in the middle.
    const offline = () => broker.log.lines.filter((l) => l.event === 'agent.offline' && l.did === rogue.did).length;
    for (let delivery = 0; delivery <= BUDGETS.intentResends.limit; delivery++) {
      await hub.next('intent', undefined, 15_000);
      received++;
      const wasOffline = offline();
      hub.close();
      if (delivery === 1) await restartBroker();
      else await waitFor('the broker to see the rogue go', () => offline() > wasOffline, 15_000);
      hub = await connect();
    }
    assert.equal(received, BUDGETS.intentResends.limit + 1, 'first send plus every resend up to the bound');
    const lost = await waitFor('the intent to end', async () => {
      const view = await call(owner, 'intentsGet', { id: sent.id });
      return view.state === 'lost-agent' ? view : undefined;
    }, 15_000);
    assert.match(lost.message ?? '', new RegExp(`sent ${BUDGETS.intentResends.limit + 1} times`));
    await broker.log.waitFor('intent.lost', (l) => l.intentId === sent.id && l.reason === 'resend-limit');
    // The bound + 1 connection got no intent; the agent holds its connection and nothing more is resent.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(hub.frames.filter((f) => f.type === 'intent').length, 0);
    assert.ok(resent() <= BUDGETS.intentResends.limit);
    assertAlive(broker);
  });
});
