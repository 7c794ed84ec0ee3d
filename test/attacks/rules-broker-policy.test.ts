/**
 * The broker side of policy rules (issue 16), on a real broker with real WebSocket clients and an in-process agent
 * (RogueAgent, a real hub socket) that records every frame it gets: rules are checked with their examples when set
 * (a failing example is refused naming the rule), a denied call is refused before it is signed, the dry run signs,
 * records and sends nothing and answers for another user only to an admin, and "approve and allow this" adds an
 * allow rule for exactly the call, never broader, re-issued through update_capabilities.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IdType, SecretIdentity } from '../../core/identity';
import { RpcErrorCode } from '../../core/rpc/methods';
import type { ApprovalView, PolicyInput } from '../../core/rpc/views';
import { seal } from '../../core/identity';
import type { ApprovalRequestBody } from '../../core/wire/approval';
import type { Capability } from '../../core/wire/policy';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { waitFor, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { RogueAgent, type Handshake, type HubSocket } from './support/rogue-agent';
import { assertBrokerRefused, auditLines, call, decisionParams, expectRpcError, finalIntent, joinAs, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();

let broker: BrokerProcess;
let owner: Member;
let admin: Member;
let alice: Member; // operator with a grant for run_command and write_file
let bob: Member; // reviewer
let agent: RogueAgent;
let hub: HubSocket;
let handshake: Handshake;

const CAPABILITIES: Capability[] = ['read_file', 'write_file', 'run_command'];
const RULES: PolicyRules = {
  run_command: {
    default: 'ask',
    rules: [
      { effect: 'deny', match: { argv: ['rm', '*'] }, note: 'no deletes', examples: { matches: [['rm', '-rf', '/']], doesNotMatch: [['git', 'rm']] } },
      { effect: 'allow', match: { argv: ['git', 'status'] } },
      { effect: 'ask', match: { argv: ['git', 'push', '*'] }, reviewers: 2 },
    ],
  },
  write_file: { rules: [{ effect: 'deny', match: { path: '**/.env*' } }] },
};
const BASE: PolicyInput = { capabilities: CAPABILITIES, approvalRequired: ['write_file'], rules: RULES };

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  admin = await joinAs(broker, owner, 'admin', 'adele');
  alice = await joinAs(broker, owner, 'operator', 'alice');
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
  await call(owner, 'grantsCreate', { user: alice.did, agent: '*', capabilities: ['run_command', 'write_file'], validForMs: 60 * 60_000 });
  agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'ruled', requested: CAPABILITIES, agentVersion: '0.4.0' });
  ({ hub } = await bounded('agent handshake', agent.authenticate()));
  const approved = await call(owner, 'registrationsApprove', { did: agent.did, policy: BASE });
  assert.deepEqual(approved.policy?.rules, RULES);
  await renewed(1);
});

after(async () => {
  hub?.close();
  for (const m of [admin, alice, bob]) m?.client.close();
  await started.cleanup();
});

/** The agent renews on update_capabilities, as an honest one does, and holds the certificate of `version`. */
async function renewed(version: number): Promise<void> {
  assert.equal((await hub.next('update_capabilities')).policyVersion, version);
  ({ handshake } = await bounded('agent renewal', agent.authenticate(hub)));
  assert.equal(handshake.policy.policyVersion, version);
}

const run = (command: string, args: string[] = []) => ({ command, args, cwd: '.', timeoutMs: 5_000 });
const version = async () => (await call(owner, 'agentsGet', { did: agent.did })).policy?.policyVersion;

describe('rules checked when they are set', () => {
  test('a rule whose example fails is refused (-32602) naming the rule and the example, at approval and at a change; nothing changes', async () => {
    const wrong: PolicyRules = {
      run_command: { rules: [{ effect: 'allow', match: { argv: ['git', 'status'] } }, { effect: 'ask', match: { argv: ['git', 'push'] }, examples: { matches: [['git', 'push', 'origin']] } }] },
    };
    await expectRpcError(
      call(owner, 'policySet', { did: agent.did, policy: { ...BASE, rules: wrong } }),
      RpcErrorCode.InvalidParams,
      /^rules\.run_command\.rules\[1\]\.examples\.matches\[0\]: run_command rule 2 \(ask \["git","push"\]\): example \["git","push","origin"\] should match but does not$/,
    );
    // Rules for a capability the policy does not grant are still checked: a wrong example there is refused too.
    const ungranted: PolicyRules = { list_files: { default: 'deny', rules: [{ effect: 'allow', match: { path: 'src/**' }, examples: { matches: ['docs/a.md'] } }] } };
    await expectRpcError(call(owner, 'policySet', { did: agent.did, policy: { ...BASE, capabilities: ['read_file', 'write_file'], rules: ungranted } }), RpcErrorCode.InvalidParams, /^rules\.list_files\.rules\[0\]\.examples\.matches\[0\]: list_files rule 1/);
    const pending = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'pending', requested: CAPABILITIES, agentVersion: '0.4.0' });
    const { hub: pendingHub } = await bounded('pending handshake', pending.authenticate());
    pendingHub.close();
    await expectRpcError(call(owner, 'registrationsApprove', { did: pending.did, policy: { ...BASE, rules: wrong } }), RpcErrorCode.InvalidParams, /run_command rule 2/);
    assert.equal((await call(owner, 'agentsGet', { did: pending.did })).status, 'pending', 'the refused approval approved nothing');
    assert.equal(await version(), 1, 'the refused change made no version');
    assert.equal(hub.frames.filter((f) => f.type === 'update_capabilities').length, 0);
  });

  test('an agent before 0.4.0, online, is refused rules (it would refuse the certificate and go offline); without rules it is approved', async () => {
    const old = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'old', requested: CAPABILITIES, agentVersion: '0.3.9' });
    const { hub: oldHub } = await bounded('old agent handshake', old.authenticate());
    try {
      await expectRpcError(
        call(owner, 'registrationsApprove', { did: old.did, policy: BASE }),
        RpcErrorCode.InvalidParams,
        new RegExp(`^agent ${old.did} runs 0\\.3\\.9, which cannot read rules in its certificate .*upgrade it to 0\\.4\\.0 or later first$`),
      );
      assert.equal((await call(owner, 'agentsGet', { did: old.did })).status, 'pending', 'the refused approval approved nothing');
      const approved = await call(owner, 'registrationsApprove', { did: old.did, policy: { ...BASE, rules: null } });
      assert.equal(approved.status, 'approved');
      await expectRpcError(call(owner, 'policySet', { did: old.did, policy: BASE }), RpcErrorCode.InvalidParams, /runs 0\.3\.9, which cannot read rules/);
    } finally {
      oldHub.close();
    }
  });

  test('rules left out of a change are kept; null removes them; each change renews the certificate', async () => {
    const withoutRules: PolicyInput = { ...BASE, rules: undefined };
    const kept = await call(owner, 'policySet', { did: agent.did, policy: { ...withoutRules, maxRequestsPerHour: 500 } });
    assert.deepEqual(kept.policy?.rules, RULES);
    await renewed(2);
    assert.deepEqual(handshake.policy.rules, RULES, 'the co-signed certificate carries them');
    const removed = await call(owner, 'policySet', { did: agent.did, policy: { ...withoutRules, rules: null } });
    assert.equal(removed.policy && 'rules' in removed.policy, false);
    await renewed(3);
    assert.equal('rules' in handshake.policy, false, 'a certificate without rules, as before issue 16');
    assert.deepEqual((await call(owner, 'policySet', { did: agent.did, policy: BASE })).policy?.rules, RULES);
    await renewed(4);
  });
});

describe('the broker pre-checks the rules', () => {
  test("a denied command is refused 'rule-denied' by the broker, never signed nor sent, and audited as intent.refused", async () => {
    for (const [who, params] of [[alice, run('rm', ['-rf', '/'])], [admin, run('/usr/bin/rm', ['x'])]] as const) {
      const sent = await call(who, 'intentsDispatch', { agent: agent.did, capability: 'run_command', params });
      assertBrokerRefused(await finalIntent(owner, sent.id), 'rule-denied', /refused by run_command rule 1: deny \["rm","\*"\] \(no deletes\)/);
      const line = await waitFor('the refusal audited', () => auditLines(broker.dataDir).find((l) => l.event === 'intent.refused' && l.intentId === sent.id));
      assert.deepEqual([line.reason, line.user], ['rule-denied', who.did]);
    }
    const env = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'config/.env.local', content: 'K=1', mode: 'create' } });
    assertBrokerRefused(await finalIntent(owner, env.id), 'rule-denied', /write_file rule 1: deny \*\*\/\.env\*/);
    // Positive control: what the rules allow or ask about is signed and sent.
    const status = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'run_command', params: run('git', ['status']) });
    assert.equal(status.state, 'sent', `${status.reason} ${status.message}`);
    assert.equal((await hub.next('intent')).type, 'intent');
    assert.equal(hub.frames.filter((f) => f.type === 'intent').length, 0, 'no refused intent reached the agent');
  });
});

describe('the dry run', () => {
  test('answers from the same evaluation as dispatch, and signs, records and sends nothing', async () => {
    const intentsBefore = (await call(owner, 'intentsList', {})).items.length;
    const linesBefore = auditLines(broker.dataDir).filter((l) => l.event === 'intent.refused' || l.event === 'intent.routed').length;
    const denied = await call(alice, 'policyTest', { agent: agent.did, capability: 'run_command', params: run('rm', ['-rf', '/']) });
    assert.deepEqual(denied, {
      verdict: 'refused', reason: 'rule-denied', gate: 'rules', message: 'refused by run_command rule 1: deny ["rm","*"] (no deletes)',
      rule: { source: 'rule', index: 0, effect: 'deny', description: 'run_command rule 1: deny ["rm","*"] (no deletes)' }, reviewers: 0, selfReview: false, hostChecks: [],
    });
    const push = await call(alice, 'policyTest', { agent: agent.did, capability: 'run_command', params: run('git', ['push', 'origin', 'main']) });
    assert.deepEqual([push.verdict, push.reviewers, push.rule], ['needs-approval', 2, { source: 'rule', index: 2, effect: 'ask', description: 'run_command rule 3: ask ["git","push","*"] (2 reviewers)' }]);
    assert.match(push.hostChecks[0] ?? '', /resolves "git" on its sandbox's PATH/);
    const status = await call(admin, 'policyTest', { agent: agent.did, capability: 'run_command', params: run('git', ['status']) });
    assert.deepEqual([status.verdict, status.rule?.index], ['allowed', 1]);
    assert.equal((await call(owner, 'intentsList', {})).items.length, intentsBefore, 'no intent recorded');
    assert.equal(auditLines(broker.dataDir).filter((l) => l.event === 'intent.refused' || l.event === 'intent.routed').length, linesBefore);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(hub.frames.filter((f) => f.type === 'intent').length, 0, 'nothing sent to the agent');
  });

  test('as another user: an admin gets that user\'s answer; an operator is refused -32003; an unknown user is -32004', async () => {
    const params = { agent: agent.did, capability: 'read_file' as const, params: { path: 'README.md' } };
    assert.equal((await call(admin, 'policyTest', params)).verdict, 'allowed');
    const asAlice = await call(admin, 'policyTest', { ...params, as: alice.did });
    assert.deepEqual([asAlice.verdict, asAlice.reason, asAlice.gate], ['refused', 'delegation-capability', 'delegation'], 'alice holds no grant for read_file');
    const asBob = await call(admin, 'policyTest', { ...params, as: bob.did });
    assert.deepEqual([asBob.verdict, asBob.reason, asBob.gate], ['refused', null, 'role']);
    await expectRpcError(call(alice, 'policyTest', { ...params, as: admin.did }), RpcErrorCode.Forbidden, /only an admin may test the policy as another user/);
    await expectRpcError(call(admin, 'policyTest', { ...params, as: SecretIdentity.generate(IdType.Person).did }), RpcErrorCode.NotFound, /user .* not found/);
  });
});

describe('approve and allow this', () => {
  let seq = 0;
  /** alice dispatches; the agent asks a reviewer about the call as an honest agent would. */
  async function asked(capability: Capability, params: Record<string, unknown>): Promise<ApprovalView> {
    const sent = await call(alice, 'intentsDispatch', { agent: agent.did, capability, params });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    const body = agent.openIntent((await hub.next('intent')).envelope, handshake.certificate.responder);
    const at = Date.now();
    const request: ApprovalRequestBody = {
      requestId: `${(++seq).toString(16).padStart(8, 'a')}${'0'.repeat(24)}`, intentId: body.id, agent: agent.did, user: body.user,
      capability: body.capability as ApprovalRequestBody['capability'], params: body.params, cwd: '/workspace', requestedAt: at, expiresAt: at + handshake.policy.approvalTimeoutMs,
    };
    hub.send({ type: 'approval/request', envelope: seal(agent.identity, 'vaultysclaw/approval-request/v1', request) });
    return waitFor('the request stored', async () => (await call(owner, 'approvalsList', { state: 'pending' })).items.find((a) => a.requestId === request.requestId));
  }

  test('adds an exact allow rule first, re-issued through update_capabilities and audited; the same command with one more argument still asks', async () => {
    const before = await version();
    const approval = await asked('run_command', run('npm', ['test']));
    assert.equal((await call(alice, 'policyTest', { agent: agent.did, capability: 'run_command', params: run('npm', ['test']) })).verdict, 'needs-approval');
    const added = await call(admin, 'policyAllowCall', { requestId: approval.requestId });
    assert.equal(added.rule, 'allow ["npm","test"]');
    const rules = added.agent.policy?.rules?.run_command;
    assert.deepEqual(rules?.rules[0], { effect: 'allow', match: { argv: ['npm', 'test'] } });
    assert.deepEqual(rules?.rules.slice(1), RULES.run_command!.rules, 'the other rules are unchanged, after it');
    assert.equal(rules?.default, 'ask');
    await renewed(before! + 1);
    assert.deepEqual(handshake.policy.rules?.run_command?.rules[0], { effect: 'allow', match: { argv: ['npm', 'test'] } });
    const line = await waitFor('policy.rule-added audited', () => auditLines(broker.dataDir).find((l) => l.event === 'policy.rule-added' && l.requestId === approval.requestId));
    assert.deepEqual([line.actor, line.did, line.capability, line.rule, line.policyVersion], [admin.did, agent.did, 'run_command', 'allow ["npm","test"]', before! + 1]);

    const test = (args: string[]) => call(alice, 'policyTest', { agent: agent.did, capability: 'run_command', params: run('npm', args) });
    assert.deepEqual([(await test(['test'])).verdict, (await test(['test'])).rule?.index], ['allowed', 0]);
    for (const broader of [['test', '--', '--grep', 'x'], ['tes'], ['test*'], []]) {
      assert.equal((await test(broader)).verdict, 'needs-approval', `npm ${broader.join(' ')} is not allowed by the exact rule`);
    }
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'reject'));
  });

  test('a capability without rules gets an entry whose default keeps its meaning (ask, as approvalRequired said)', async () => {
    const onlyCommands: PolicyRules = { run_command: RULES.run_command! };
    await call(owner, 'policySet', { did: agent.did, policy: { ...BASE, rules: onlyCommands } });
    await renewed((await version())!);
    const approval = await asked('write_file', { path: 'docs/draft*.md', content: 'x', mode: 'create' });
    const added = await call(owner, 'policyAllowCall', { requestId: approval.requestId });
    assert.equal(added.rule, 'allow docs/draft\\*.md', 'glob characters escaped: exactly this path');
    assert.deepEqual(added.agent.policy?.rules?.write_file, { default: 'ask', rules: [{ effect: 'allow', match: { path: 'docs/draft\\*.md' } }] });
    assert.deepEqual(added.agent.policy?.rules?.run_command, RULES.run_command, 'the other capabilities are untouched');
    await renewed((await version())!);
    const test = (path: string) => call(alice, 'policyTest', { agent: agent.did, capability: 'write_file', params: { path, content: 'x', mode: 'create' } });
    assert.equal((await test('docs/draft*.md')).verdict, 'allowed');
    assert.equal((await test('docs/draftx.md')).verdict, 'needs-approval', 'the * is a character of the path, not a wildcard');
    assert.equal((await test('README.md')).verdict, 'needs-approval', 'every other write still asks, as before');
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'reject'));
    await call(owner, 'policySet', { did: agent.did, policy: BASE });
    await renewed((await version())!);
  });

  test('refused: a call that cannot be named exactly (-32602), a call the rules now deny (-32009), a non-admin (-32003); nothing changes', async () => {
    const relative = await asked('run_command', run('./build.sh'));
    const curl = await asked('run_command', run('curl', ['https://example.com']));
    // The policy changed while the request waited: curl is denied now, and an allow rule is never put over a deny.
    const denyCurl: PolicyRules = { ...RULES, run_command: { ...RULES.run_command!, rules: [{ effect: 'deny', match: { argv: ['curl', '*'] } }, ...RULES.run_command!.rules] } };
    await call(owner, 'policySet', { did: agent.did, policy: { ...BASE, rules: denyCurl } });
    await renewed((await version())!);
    const start = await version();
    await expectRpcError(call(admin, 'policyAllowCall', { requestId: relative.requestId }), RpcErrorCode.InvalidParams, /cannot be named exactly/);
    await expectRpcError(call(admin, 'policyAllowCall', { requestId: curl.requestId }), RpcErrorCode.Conflict, /the policy denies this call \(run_command rule 1: deny \["curl","\*"\]\)/);
    await expectRpcError(call(bob, 'policyAllowCall', { requestId: relative.requestId }), RpcErrorCode.Forbidden, /^role reviewer may not call vaultysclaw\/policy\/allowCall$/);
    await expectRpcError(call(admin, 'policyAllowCall', { requestId: 'f'.repeat(32) }), RpcErrorCode.NotFound, /approval request f+ not found/);
    assert.equal(await version(), start);
    assert.ok(!auditLines(broker.dataDir).some((l) => l.event === 'policy.rule-added' && (l.requestId === relative.requestId || l.requestId === curl.requestId)));
  });
});
