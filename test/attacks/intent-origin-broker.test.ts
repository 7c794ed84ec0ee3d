/**
 * Issue 18, broker side: the provenance of a model-dispatched intent (`via`), on a real broker process with real
 * WebSocket clients and in-process agents (RogueAgent, a real hub socket) that announce the version they run. The
 * broker signs `via` into the intent for an agent that reads it (0.5.0), keeps it in its own record and audit for
 * one that does not (0.4.0, whose strict schema would refuse the intent), refuses a hostile `via` before anything is
 * signed or stored, resends the same signed bytes after a reconnect, lets the requester approve only a call a model
 * chose, and refuses a rule with chosenBy for an agent that cannot read it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeCanonical, IdType, SecretIdentity } from '../../core/identity';
import { RpcErrorCode } from '../../core/rpc/methods';
import { IntentBody } from '../../core/wire/intent';
import type { Capability } from '../../core/wire/policy';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { waitFor, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { RogueAgent, type Handshake, type HubSocket } from './support/rogue-agent';
import { auditLines, call, decisionParams, expectRpcError, joinAs, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();
const ROOT = resolve(__dirname, '..', '..');

/** What an agent before 0.5.0 decodes an intent with: the same strict object, without `via`. */
const IntentBodyBefore050 = IntentBody.omit({ via: true });

const CAPABILITIES: Capability[] = ['read_file', 'write_file'];
/** A model's writes under docs/ wait for a reviewer, and the requester may be that reviewer; a person's are allowed. */
const MODEL_WRITES_ASK: PolicyRules = {
  write_file: { default: 'allow', rules: [{ effect: 'ask', chosenBy: 'model', selfReview: 'model-calls', match: { path: 'docs/**' }, examples: { matches: ['docs/a.md'] } }] },
};

interface Connected {
  agent: RogueAgent;
  hub: HubSocket;
  handshake: Handshake;
}

let broker: BrokerProcess;
let owner: Member;
let adele: Member; // admin: dispatches
let bob: Member; // reviewer
let current: Connected; // agent 0.5.0
let older: Connected; // agent 0.4.0

async function approvedAgent(name: string, agentVersion: string, rules?: PolicyRules): Promise<Connected> {
  const agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name, requested: CAPABILITIES, agentVersion });
  const { hub } = await bounded(`${name} handshake`, agent.authenticate());
  await call(owner, 'registrationsApprove', { did: agent.did, policy: { capabilities: CAPABILITIES, approvalRequired: [], ...(rules ? { rules } : {}) } });
  await hub.next('update_capabilities');
  const { handshake } = await bounded(`${name} renewal`, agent.authenticate(hub));
  return { agent, hub, handshake };
}

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  adele = await joinAs(broker, owner, 'admin', 'adele');
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
  current = await approvedAgent('current', '0.5.0', MODEL_WRITES_ASK);
  older = await approvedAgent('older', '0.4.0');
});

after(async () => {
  current?.hub.close();
  older?.hub.close();
  for (const m of [adele, bob]) m?.client.close();
  await started.cleanup();
});

/** The next intent frame `c` gets: its body as the agent verifies it, and the raw decoded body (to see which keys it has). */
async function received(c: Connected, id: string) {
  const frame = await c.hub.next('intent', (f) => {
    const decoded = decodeCanonical(f.envelope.payload);
    return decoded.ok && (decoded.value as { body?: { id?: unknown } }).body?.id === id;
  });
  const decoded = decodeCanonical(frame.envelope.payload);
  assert.ok(decoded.ok);
  return { envelope: frame.envelope, raw: (decoded.value as { body: Record<string, unknown> }).body };
}

/** Ends an intent the way an honest agent does: a signed result. */
function answer(c: Connected, intentId: string): void {
  c.hub.send({ type: 'result', envelope: c.agent.result({ intentId, outcome: 'succeeded', reason: null, message: 'done', output: {} }) });
}

const intentLines = (id: string) => auditLines(broker.dataDir).filter((l) => (l.event === 'intent.routed' || l.event === 'intent.refused') && l.intentId === id);

describe('via, signed and recorded', () => {
  test('a model-dispatched intent to an agent 0.5.0 carries via in its signed body; intents/dispatch, intents/get, intents/list and the intent.routed audit line show it', async () => {
    const sent = await call(adele, 'intentsDispatch', { agent: current.agent.did, capability: 'read_file', params: { path: 'README.md' }, via: 'mcp:Claude Code' });
    assert.deepEqual([sent.state, sent.via], ['sent', 'mcp:Claude Code'], `${sent.reason}: ${sent.message}`);
    const { envelope } = await received(current, sent.id);
    assert.equal(current.agent.openIntent(envelope, current.handshake.certificate.responder).via, 'mcp:Claude Code', 'signed by the broker, verified as the agent does');
    answer(current, sent.id);
    const detail = await waitFor('the result', async () => {
      const d = await call(adele, 'intentsGet', { id: sent.id });
      return d.state === 'succeeded' ? d : undefined;
    });
    assert.equal(detail.via, 'mcp:Claude Code');
    assert.equal(IntentBody.parse((decodeCanonical(Buffer.from(detail.signedIntent!.payload, 'base64')) as { value: { body: unknown } }).value.body).via, 'mcp:Claude Code');
    const listed = (await call(adele, 'intentsList', { agent: current.agent.did, limit: 10 })).items.find((i) => i.id === sent.id);
    assert.equal(listed?.via, 'mcp:Claude Code');
    const lines = await waitFor('the intent.routed line', () => (intentLines(sent.id).length ? intentLines(sent.id) : undefined));
    assert.deepEqual(lines.map((l) => [l.event, l.via]), [['intent.routed', 'mcp:Claude Code']]);

    const person = await call(adele, 'intentsDispatch', { agent: current.agent.did, capability: 'read_file', params: { path: 'README.md' } });
    const { raw } = await received(current, person.id);
    assert.equal('via' in raw, false, 'a person-dispatched intent says nothing of a model');
    assert.equal((await call(adele, 'intentsGet', { id: person.id })).via, undefined);
    answer(current, person.id);
    await waitFor('the routed line', () => intentLines(person.id)[0]);
    assert.equal('via' in intentLines(person.id)[0]!, false);
  });

  test('a refused model-dispatched intent keeps via in its record and its intent.refused line', async () => {
    const refused = await call(adele, 'intentsDispatch', { agent: current.agent.did, capability: 'read_file', params: { nope: 1 }, via: 'vscode-lm' });
    assert.deepEqual([refused.state, refused.reason, refused.via], ['rejected', 'bad-params', 'vscode-lm']);
    assert.equal((await call(adele, 'intentsGet', { id: refused.id })).via, 'vscode-lm');
    const line = await waitFor('the intent.refused line', () => intentLines(refused.id)[0]);
    assert.deepEqual([line.event, line.via], ['intent.refused', 'vscode-lm']);
  });

  test('a hostile via (bad characters, a 65-character name, 10 KB, another case, not a string) is refused InvalidParams at intents/dispatch, never signed, stored nor audited', async () => {
    const countBefore = (await call(owner, 'intentsList', { limit: 100 })).items.length;
    const linesBefore = auditLines(broker.dataDir).filter((l) => String(l.event).startsWith('intent.')).length;
    const hostile: unknown[] = ['mcp:bad<script>', 'mcp:a\u202Eb', 'mcp:line\nbreak', `mcp:${'a'.repeat(65)}`, 'x'.repeat(10_240), `mcp:${'a'.repeat(10_240)}`, 'VSCODE-LM', 'mcp:', '', 42, null];
    for (const via of hostile) {
      await expectRpcError(
        call(adele, 'intentsDispatch', { agent: current.agent.did, capability: 'read_file', params: { path: 'README.md' }, via } as never),
        RpcErrorCode.InvalidParams,
        /./,
        JSON.stringify(via).slice(0, 40),
      );
    }
    // At the bound: a 64-character client name is a model's name like any other.
    const longest = await call(adele, 'intentsDispatch', { agent: current.agent.did, capability: 'read_file', params: { path: 'README.md' }, via: `mcp:${'a'.repeat(64)}` });
    assert.equal(longest.via, `mcp:${'a'.repeat(64)}`);
    await received(current, longest.id);
    answer(current, longest.id);
    assert.equal((await call(owner, 'intentsList', { limit: 100 })).items.length, countBefore + 1, 'only the valid one was stored');
    await waitFor('its routed line', () => intentLines(longest.id)[0]);
    assert.equal(auditLines(broker.dataDir).filter((l) => String(l.event).startsWith('intent.')).length - linesBefore, 2, 'routed and result of the valid one only');
    assert.equal(current.hub.frames.filter((f) => f.type === 'intent').length, 0, 'no hostile intent reached the agent');
  });

  test('a resent intent keeps via: after the agent reconnects it gets the very bytes the broker signed', async () => {
    const sent = await call(adele, 'intentsDispatch', { agent: current.agent.did, capability: 'read_file', params: { path: 'a.txt' }, via: 'vscode-lm' });
    const first = await received(current, sent.id);
    current.hub.close();
    await current.hub.waitClosed();
    const { hub, handshake } = await bounded('reconnect', current.agent.authenticate());
    current = { ...current, hub, handshake };
    const again = await received(current, sent.id);
    assert.deepEqual(Buffer.from(again.envelope.payload), Buffer.from(first.envelope.payload));
    assert.deepEqual(Buffer.from(again.envelope.signature), Buffer.from(first.envelope.signature));
    assert.equal(current.agent.openIntent(again.envelope, handshake.certificate.responder).via, 'vscode-lm');
    answer(current, sent.id);
    await waitFor('the resent line', () => auditLines(broker.dataDir).find((l) => l.event === 'intent.resent' && l.intentId === sent.id));
  });
});

describe('an agent before 0.5.0', () => {
  test('gets a model-dispatched intent without via (its strict schema accepts it) and runs it; the broker keeps via in its record and audit', async () => {
    const sent = await call(adele, 'intentsDispatch', { agent: older.agent.did, capability: 'read_file', params: { path: 'README.md' }, via: 'vscode-lm' });
    assert.deepEqual([sent.state, sent.via], ['sent', 'vscode-lm'], `${sent.reason}: ${sent.message}`);
    const { raw } = await received(older, sent.id);
    assert.equal('via' in raw, false, 'not in the signed body');
    assert.equal(IntentBodyBefore050.safeParse(raw).success, true, "the 0.4.0 decoder takes it");
    assert.equal(IntentBodyBefore050.safeParse({ ...raw, via: 'vscode-lm' }).success, false, 'the 0.4.0 decoder would refuse it with via');
    answer(older, sent.id);
    const done = await waitFor('the result', async () => {
      const d = await call(adele, 'intentsGet', { id: sent.id });
      return d.state === 'succeeded' ? d : undefined;
    });
    assert.equal(done.via, 'vscode-lm');
    const line = await waitFor('the routed line', () => intentLines(sent.id)[0]);
    assert.equal(line.via, 'vscode-lm');
  });

  test('a rule with chosenBy is refused for it, on policy/set and on approval, naming the rule and the version it needs; without chosenBy the same rules are certified', async () => {
    await expectRpcError(
      call(owner, 'policySet', { did: older.agent.did, policy: { capabilities: CAPABILITIES, approvalRequired: [], rules: MODEL_WRITES_ASK } }),
      RpcErrorCode.InvalidParams,
      /runs 0\.4\.0, which cannot read chosenBy in its certificate \(write_file rule 1; .*upgrade it to 0\.5\.0 or later first, or leave out chosenBy/,
    );
    const pending = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'pending-old', requested: CAPABILITIES, agentVersion: '0.4.0' });
    const { hub } = await bounded('pending handshake', pending.authenticate());
    try {
      await expectRpcError(
        call(owner, 'registrationsApprove', { did: pending.did, policy: { capabilities: CAPABILITIES, approvalRequired: [], rules: MODEL_WRITES_ASK } }),
        RpcErrorCode.InvalidParams,
        /runs 0\.4\.0, which cannot read chosenBy/,
      );
      assert.equal((await call(owner, 'agentsGet', { did: pending.did })).status, 'pending');
    } finally {
      hub.close();
    }
    const { chosenBy: _chosenBy, selfReview: _selfReview, ...plain } = MODEL_WRITES_ASK.write_file!.rules[0]!;
    const view = await call(owner, 'policySet', { did: older.agent.did, policy: { capabilities: CAPABILITIES, approvalRequired: [], rules: { write_file: { default: 'allow', rules: [plain] } } } });
    assert.equal(view.policy?.rules?.write_file?.rules.length, 1);
    await older.hub.next('update_capabilities');
    ({ handshake: older.handshake } = await bounded('older renewal', older.agent.authenticate(older.hub)));
  });
});

describe('chosenBy "model" and self-review of a model-dispatched intent', () => {
  test('the dry run (policy/test with via, broker policy test --via) asks for a model-dispatched write under docs/ and allows the same write from a person', async () => {
    const params = { path: 'docs/a.md', content: 'x', mode: 'create' };
    const asModel = await call(adele, 'policyTest', { agent: current.agent.did, capability: 'write_file', params, via: 'vscode-lm' });
    assert.deepEqual([asModel.verdict, asModel.reviewers, asModel.selfReview, asModel.rule?.index], ['needs-approval', 1, true, 0]);
    assert.match(asModel.rule!.description, /\(calls a model chose\)/);
    const asPerson = await call(adele, 'policyTest', { agent: current.agent.did, capability: 'write_file', params });
    assert.deepEqual([asPerson.verdict, asPerson.rule?.source], ['allowed', 'default']);
    await expectRpcError(call(adele, 'policyTest', { agent: current.agent.did, capability: 'write_file', params, via: 'mcp:<x>' }), RpcErrorCode.InvalidParams, /./);

    const cli = (...extra: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), 'policy', 'test', current.agent.did, 'write_file', JSON.stringify(params), '--json', ...extra, '--data-dir', broker.dataDir], { encoding: 'utf8', timeout: 30_000 });
    const viaCli = cli('--via', 'vscode-lm');
    assert.equal(viaCli.status, 0, viaCli.stderr);
    assert.equal((JSON.parse(viaCli.stdout) as { verdict: string }).verdict, 'needs-approval');
    const personCli = cli();
    assert.equal((JSON.parse(personCli.stdout) as { verdict: string }).verdict, 'allowed');
    assert.notEqual(cli('--via', 'mcp:<x>').status, 0, 'a hostile --via is refused');
  });

  test('the requester approves their own model-dispatched write (self-review); on a person-dispatched one the same approval is refused and another reviewer decides', async () => {
    const params = { path: 'docs/model.md', content: 'x', mode: 'create' };
    const byModel = await call(adele, 'intentsDispatch', { agent: current.agent.did, capability: 'write_file', params, via: 'vscode-lm' });
    const modelBody = current.agent.openIntent((await received(current, byModel.id)).envelope, current.handshake.certificate.responder);
    const asked = current.agent.approvalRequest(modelBody, current.handshake.policy, { selfReview: true, reviewers: 1 });
    current.hub.send({ type: 'approval/request', envelope: asked.envelope });
    const pending = await waitFor('the request', async () => (await call(adele, 'approvalsList', { state: 'pending' })).items.find((a) => a.requestId === asked.requestId));
    assert.equal(pending.modelCall, true, "the broker's own record says a model chose it");
    const approved = await call(adele, 'approvalsDecide', decisionParams(adele.identity, pending, 'approve'));
    assert.equal(approved.state, 'approved');
    const decided = await waitFor('the decision line', () => auditLines(broker.dataDir).find((l) => l.event === 'approval.decided' && l.requestId === asked.requestId));
    assert.equal(decided.selfReview, true);
    await current.hub.next('approval/decision');
    answer(current, byModel.id);

    const byPerson = await call(adele, 'intentsDispatch', { agent: current.agent.did, capability: 'write_file', params: { ...params, path: 'docs/person.md' } });
    const personBody = current.agent.openIntent((await received(current, byPerson.id)).envelope, current.handshake.certificate.responder);
    // A lying agent claims the requester may review the call of a person-dispatched intent.
    const lied = current.agent.approvalRequest(personBody, current.handshake.policy, { selfReview: true, reviewers: 1 });
    current.hub.send({ type: 'approval/request', envelope: lied.envelope });
    const held = await waitFor('the request', async () => (await call(adele, 'approvalsList', { state: 'pending' })).items.find((a) => a.requestId === lied.requestId));
    assert.equal(held.modelCall, false);
    await expectRpcError(call(adele, 'approvalsDecide', decisionParams(adele.identity, held, 'approve')), RpcErrorCode.Forbidden, /self-review is for calls a model chose/);
    assert.ok(auditLines(broker.dataDir).some((l) => l.event === 'approval.self-refused' && l.requestId === lied.requestId));
    assert.equal((await call(bob, 'approvalsDecide', decisionParams(bob.identity, held, 'approve'))).state, 'approved');
    await current.hub.next('approval/decision');
    answer(current, byPerson.id);
  });
});
