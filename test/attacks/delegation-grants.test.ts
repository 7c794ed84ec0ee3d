/**
 * Delegation and revocation (architecture.md), on a real broker and two real agents. Operators dispatch
 * only within grants: the broker refuses an intent with no grant, a grant for another agent, a grant
 * without the capability and an expired grant; a wildcard grant covers every agent. Revocation takes
 * effect at once on the broker AND on the agent, which enforces it offline: agent A sits behind a man in
 * the middle (support/mitm-proxy.ts) that can hold an intent frame while a revocation goes by, or drop
 * the revocation list, so the agent's own gate is what decides.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RpcErrorCode } from '../../core/rpc/methods';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { MitmProxy } from './support/mitm-proxy';
import {
  approveAgent,
  assertAgentRefused,
  assertBrokerRefused,
  assertSucceeded,
  call,
  connectAttempt,
  expectRpcError,
  finalIntent,
  heldListVersion,
  joinAs,
  ownerOf,
  runAs,
  type Member,
} from './support/team';

exitIfHeldOpen();
const started = new Started();

let broker: BrokerProcess;
let proxy: MitmProxy;
/** Agent A connects through the proxy; agent B directly. */
let agentA: AgentProcess;
let agentB: AgentProcess;
let owner: Member;
const joined: Member[] = [];

/** What the proxy does to frames towards agent A. */
const intercept = { holdNextIntent: false, held: [] as Uint8Array[], dropRevocations: false, droppedRevocations: 0 };

async function operator(name: string): Promise<Member> {
  const m = await joinAs(broker, owner, 'operator', name);
  joined.push(m);
  return m;
}

const grant = (user: Member, agent: string, capabilities: Array<'read_file' | 'list_files' | 'write_file'>, validForMs = 60 * 60_000) =>
  call(owner, 'grantsCreate', { user: user.did, agent, capabilities, validForMs });

const read = { path: 'hello.txt' };

/** Arms the proxy to hold the next intent towards agent A; returns a function that waits until it is held. */
function holdNextIntent(): () => Promise<Uint8Array> {
  intercept.held.length = 0;
  intercept.holdNextIntent = true;
  return () => waitFor('the proxy to hold an intent', () => intercept.held[0]);
}

function release(): void {
  const frame = intercept.held.shift();
  assert.ok(frame, 'an intent is held');
  proxy.injectToAgent(frame);
}

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  proxy = await MitmProxy.start(broker.url);
  proxy.hook = (m) => {
    if (m.direction !== 'toAgent') return undefined;
    if (m.frame?.type === 'intent' && intercept.holdNextIntent) {
      intercept.holdNextIntent = false;
      intercept.held.push(m.data);
      return null;
    }
    if (m.frame?.type === 'revocations' && intercept.dropRevocations) {
      intercept.droppedRevocations++;
      return null;
    }
    return undefined;
  };
  agentA = await started.agent({ brokerUrl: proxy.url, brokerDid: broker.did, name: 'agent-a', request: 'read_file,list_files,write_file' });
  agentB = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, name: 'agent-b', request: 'read_file,list_files,write_file' });
  for (const agent of [agentA, agentB]) {
    await approveAgent(owner, agent, { capabilities: ['read_file', 'list_files', 'write_file'] });
    writeFileSync(join(agent.workspace, 'hello.txt'), `hello from ${agent.did}\n`);
  }
});

after(async () => {
  for (const m of joined) m.client.close();
  await proxy?.close();
  await started.cleanup();
});

describe('delegation: the broker dispatches only within a grant', () => {
  test('an operator with no grant: refused by the broker as delegation-missing, nothing reaches the agent', async () => {
    const op = await operator('no-grant');
    const intentsBefore = proxy.frames('toAgent', 'intent').length;
    const refused = await runAs(op, agentA.did, 'read_file', read);
    assertBrokerRefused(refused, 'delegation-missing', /holds no grant/);
    assert.equal(refused.user, op.did);
    assert.equal(proxy.frames('toAgent', 'intent').length, intentsBefore, 'no intent frame went to the agent');
    assert.ok(broker.log.find('intent.refused', (l) => l.intentId === refused.id && l.reason === 'delegation-missing'), 'the refusal is audited');
    // Control: the same call with a grant runs.
    await grant(op, agentA.did, ['read_file']);
    assertSucceeded(await runAs(op, agentA.did, 'read_file', read));
  });

  test('a grant for another agent: refused as delegation-wrong-agent; the agent it names works', async () => {
    const op = await operator('wrong-agent');
    await grant(op, agentB.did, ['read_file']);
    assertBrokerRefused(await runAs(op, agentA.did, 'read_file', read), 'delegation-wrong-agent', new RegExp(`covers agent ${agentA.did}`));
    const ok = await runAs(op, agentB.did, 'read_file', read);
    assertSucceeded(ok);
    assert.equal((ok.output as { content?: string } | null)?.content, `hello from ${agentB.did}\n`);
  });

  test('a grant without the capability: refused as delegation-capability; the granted capability works', async () => {
    const op = await operator('capability');
    await grant(op, agentA.did, ['list_files']);
    assertBrokerRefused(await runAs(op, agentA.did, 'read_file', read), 'delegation-capability', /covers read_file/);
    assertBrokerRefused(await runAs(op, agentA.did, 'write_file', { path: 'nope.txt', content: 'x', mode: 'create' }), 'delegation-capability');
    assert.equal(existsSync(join(agentA.workspace, 'nope.txt')), false);
    assertSucceeded(await runAs(op, agentA.did, 'list_files', { path: '.' }));
  });

  test('a wildcard grant covers two different agents (and only its capabilities)', async () => {
    const op = await operator('wildcard');
    await grant(op, '*', ['read_file']);
    for (const agent of [agentA, agentB]) {
      const ok = await runAs(op, agent.did, 'read_file', read);
      assertSucceeded(ok);
      assert.equal((ok.output as { content?: string } | null)?.content, `hello from ${agent.did}\n`);
    }
    assertBrokerRefused(await runAs(op, agentB.did, 'list_files', { path: '.' }), 'delegation-capability');
  });

  test('an expired grant: an intent issued just before expiry is refused by the agent (delegation-expired), the next one by the broker (delegation-missing)', async () => {
    const op = await operator('expired');
    const g = await grant(op, agentA.did, ['read_file'], 2500);
    const waitHeld = holdNextIntent();
    const sent = await call(op, 'intentsDispatch', { agent: agentA.did, capability: 'read_file', params: read });
    assert.equal(sent.state, 'sent', `the grant is valid at dispatch: ${sent.reason} ${sent.message}`);
    await waitHeld();
    // Past the certificate's expiry, the held intent (itself fresh for 5 minutes) reaches the agent.
    await waitFor('the grant to expire', () => Date.now() > g.expiresAt + 100, 10_000, 50);
    release();
    assertAgentRefused(await finalIntent(owner, sent.id), 'delegation-expired', /delegation has expired/);
    // The broker no longer counts the grant as active at all.
    assertBrokerRefused(await runAs(op, agentA.did, 'read_file', read), 'delegation-missing', /holds no grant/);
    const listed = (await call(owner, 'grantsList', { user: op.did })).items.find((x) => x.id === g.id);
    assert.equal(listed?.revoked, false, 'expired, not revoked');
  });
});

describe('revocation: at once, on the broker and on the agent', () => {
  test('an operator holding two grants: revoking the write_file one refuses the next write while read_file (the "*" grant) still works', async () => {
    const op = await operator('two-grants');
    const readAll = await grant(op, '*', ['read_file']);
    const writeA = await grant(op, agentA.did, ['write_file']);
    assertSucceeded(await runAs(op, agentA.did, 'write_file', { path: 'before.txt', content: 'before\n', mode: 'create' }));
    assert.equal(readFileSync(join(agentA.workspace, 'before.txt'), 'utf8'), 'before\n');

    const version = heldListVersion(agentA.log);
    assert.equal((await call(owner, 'grantsRevoke', { id: writeA.id })).revoked, true);
    const updated = await agentA.log.waitFor('revocations.updated', (l) => Number(l.version) > version);
    assert.ok(Number(updated.delegations) >= 1, 'the pushed list names the revoked certificate');

    assertBrokerRefused(await runAs(op, agentA.did, 'write_file', { path: 'after.txt', content: 'after\n', mode: 'create' }), 'delegation-capability', /covers write_file/);
    assert.equal(existsSync(join(agentA.workspace, 'after.txt')), false);
    assertSucceeded(await runAs(op, agentA.did, 'read_file', read));
    assertSucceeded(await runAs(op, agentB.did, 'read_file', read));
    await expectRpcError(call(owner, 'grantsRevoke', { id: writeA.id }), RpcErrorCode.Conflict, /already revoked/);
    const grants = (await call(owner, 'grantsList', { user: op.did })).items;
    assert.equal(grants.find((g) => g.id === writeA.id)?.revoked, true);
    assert.equal(grants.find((g) => g.id === readAll.id)?.revoked, false);
  });

  test('the agent enforces a revocation itself: an intent issued before the revocation and delivered after it is refused as delegation-revoked', async () => {
    const op = await operator('agent-enforces');
    await grant(op, '*', ['read_file']);
    const writeA = await grant(op, agentA.did, ['write_file']);
    const waitHeld = holdNextIntent();
    const sent = await call(op, 'intentsDispatch', { agent: agentA.did, capability: 'write_file', params: { path: 'revoked.txt', content: 'x', mode: 'create' } });
    assert.equal(sent.state, 'sent', `${sent.reason} ${sent.message}`);
    await waitHeld();

    const version = heldListVersion(agentA.log);
    await call(owner, 'grantsRevoke', { id: writeA.id });
    await agentA.log.waitFor('revocations.updated', (l) => Number(l.version) > version);
    release();
    assertAgentRefused(await finalIntent(owner, sent.id), 'delegation-revoked', new RegExp(`delegation ${writeA.id} is revoked`));
    assert.equal(existsSync(join(agentA.workspace, 'revoked.txt')), false, 'the revoked write did not run');
    assert.ok(agentA.log.find('intent.rejected', (l) => l.intentId === sent.id && l.reason === 'delegation-revoked'), 'the agent logged its own refusal');
    // The other certificate of the same user survives on the agent.
    assertSucceeded(await runAs(op, agentA.did, 'read_file', read));
  });

  test('a dropped revocation list: the agent refuses the next intent as revocation-list-stale (issued under a newer list), and works again once a list arrives', async () => {
    const op = await operator('stale-list');
    await grant(op, '*', ['read_file']);
    const spare1 = await grant(op, agentB.did, ['list_files']);
    const spare2 = await grant(op, agentB.did, ['list_files']);
    assertSucceeded(await runAs(op, agentA.did, 'read_file', read));
    const held = heldListVersion(agentA.log);

    intercept.dropRevocations = true;
    try {
      const dropped = intercept.droppedRevocations;
      await call(owner, 'grantsRevoke', { id: spare1.id });
      await waitFor('the proxy to drop the revocation list', () => intercept.droppedRevocations > dropped);
      // Agent B, directly connected, got it: the list did move on.
      await agentB.log.waitFor('revocations.updated', (l) => Number(l.version) > held);
      const stale = await runAs(op, agentA.did, 'read_file', read);
      assertAgentRefused(stale, 'revocation-list-stale', new RegExp(`revocation list v${held + 1}; this agent holds v${held}`));
      assert.equal(heldListVersion(agentA.log), held);
    } finally {
      intercept.dropRevocations = false;
    }
    await call(owner, 'grantsRevoke', { id: spare2.id });
    await agentA.log.waitFor('revocations.updated', (l) => Number(l.version) > held + 1);
    assertSucceeded(await runAs(op, agentA.did, 'read_file', read));
  });

  test("a removed user's grants stop working: the broker refuses them (-32003), and the agent refuses an intent already in flight (delegation-revoked)", async () => {
    const op = await operator('removed');
    const g = await grant(op, '*', ['read_file']);
    assertSucceeded(await runAs(op, agentA.did, 'read_file', read));

    const waitHeld = holdNextIntent();
    const sent = await call(op, 'intentsDispatch', { agent: agentA.did, capability: 'read_file', params: read });
    assert.equal(sent.state, 'sent');
    await waitHeld();
    const version = heldListVersion(agentA.log);
    assert.equal((await call(owner, 'usersRemove', { did: op.did })).removed, true);
    const updated = await agentA.log.waitFor('revocations.updated', (l) => Number(l.version) > version);
    assert.ok(Number(updated.users) >= 1, 'the list names the removed user');
    release();
    assertAgentRefused(await finalIntent(owner, sent.id), 'delegation-revoked', new RegExp(`user ${op.did} is revoked`));

    // The broker: the removed user's session and any new one are refused before a grant is even looked at.
    await expectRpcError(call(op, 'intentsDispatch', { agent: agentB.did, capability: 'read_file', params: read }), RpcErrorCode.Forbidden, /a removed user may not call/);
    await expectRpcError(connectAttempt(broker, op.identity, 'removed-again'), RpcErrorCode.Unauthenticated, /removed/);
    // Agent B, which never saw the user's intents, holds the list naming them too.
    await agentB.log.waitFor('revocations.updated', (l) => Number(l.version) > version && Number(l.users) >= 1);
    assert.ok((await call(owner, 'grantsList', { user: op.did })).items.some((x) => x.id === g.id));
  });
});
