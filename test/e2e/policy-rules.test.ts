// End to end: policy rules on real broker and agent processes (issue 16). The dry run (policy/test) agrees with a
// real dispatch to a real agent on every row of a table; a certificate without rules means what it did before;
// the largest rules a policy may carry still fit the agent's handshake; the CLI sets rules from a file and tests
// a call.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { RpcErrorCode } from '../../core/rpc/methods';
import type { PolicyInput, PolicyTestResult } from '../../core/rpc/views';
import type { Capability } from '../../core/wire/policy';
import { PolicyRules } from '../../core/wire/policy-rules';
import { utf8ByteLength } from '../../core/wire/common';
import { assertSucceeded, auditLines, call, decisionParams, expectRpcError, finalIntent, joinAs, ownerOf, pendingApproval, registerAgent, type Member } from '../attacks/support/team';
import { ROOT, waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();

const CAPABILITIES: Capability[] = ['read_file', 'list_files', 'write_file', 'run_command'];
const OLD_POLICY: PolicyInput = { capabilities: CAPABILITIES, approvalRequired: ['list_files', 'write_file'] };
const RULES: PolicyRules = {
  run_command: {
    default: 'ask',
    rules: [
      { effect: 'deny', match: { argv: ['rm', '*'] }, note: 'no deletes' },
      { effect: 'allow', match: { argv: ['echo', '*'] } },
      { effect: 'ask', match: { argv: ['git', 'push', '*'] }, reviewers: 2 },
    ],
  },
  write_file: { default: 'ask', rules: [{ effect: 'deny', match: { path: '**/.env*' } }] },
};

let broker: BrokerProcess;
let agent: AgentProcess;
let owner: Member;
let alice: Member; // operator, granted read_file and list_files only
let bob: Member; // reviewer
let offline: string; // an approved agent that is not connected

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  alice = await joinAs(broker, owner, 'operator', 'alice');
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
  await call(owner, 'grantsCreate', { user: alice.did, agent: '*', capabilities: ['read_file', 'list_files'], validForMs: 60 * 60_000 });
  agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: CAPABILITIES.join(',') });
  await waitFor('the agent pending and online', async () => (await call(owner, 'registrationsList', {})).items.find((r) => r.did === agent.did && r.online));
  await call(owner, 'registrationsApprove', { did: agent.did, policy: OLD_POLICY });
  await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
  writeFileSync(join(agent.workspace, 'README.md'), 'hello\n');
  offline = await registerAgent(broker, ['read_file']);
  await call(owner, 'registrationsApprove', { did: offline, policy: { capabilities: ['read_file'] } });
});

after(() => started.cleanup());

interface Row {
  what: string;
  who: () => Member;
  agent?: () => string;
  capability: Capability;
  params: Record<string, unknown>;
  /** What the dry run must answer: the verdict, and the refusal's reason or the approvals needed. */
  expect: ['allowed'] | ['refused', NonNullable<PolicyTestResult['reason']>, string] | ['needs-approval', number];
}

/** The dry run, then the real dispatch of the same call: they must agree. */
async function agree(row: Row): Promise<void> {
  const target = row.agent?.() ?? agent.did;
  const dry = await call(row.who(), 'policyTest', { agent: target, capability: row.capability, params: row.params });
  const [verdict, detail, gate] = row.expect;
  assert.equal(dry.verdict, verdict, `${row.what}: dry run ${JSON.stringify(dry)}`);
  const sent = await call(row.who(), 'intentsDispatch', { agent: target, capability: row.capability, params: row.params });
  if (verdict === 'refused') {
    assert.deepEqual([dry.reason, dry.gate], [detail, gate], row.what);
    const real = await finalIntent(owner, sent.id);
    assert.deepEqual([real.state, real.rejectedBy, real.reason, real.message], ['rejected', 'broker', dry.reason, dry.message], `${row.what}: the real dispatch`);
  } else if (verdict === 'needs-approval') {
    assert.equal(dry.reviewers, detail, row.what);
    assert.equal(sent.state, 'sent', `${row.what}: ${sent.reason} ${sent.message}`);
    const approval = await pendingApproval(owner, sent.id);
    assert.equal(approval.reviewersRequired, dry.reviewers, `${row.what}: the agent asks for as many reviewers as the dry run said`);
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'reject', { reason: 'table row' }));
    assert.equal((await finalIntent(owner, sent.id)).reason, 'approval-rejected');
  } else {
    assertSucceeded(await finalIntent(owner, sent.id));
  }
}

const run = (command: string, args: string[]) => ({ command, args, cwd: '.', timeoutMs: 10_000 });

/** Rows whose answer the rules and gates give the same with or without rules. */
const gateRows: Row[] = [
  { what: 'a read the policy allows', who: () => alice, capability: 'read_file', params: { path: 'README.md' }, expect: ['allowed'] },
  { what: 'a capability not granted', who: () => owner, capability: 'http_fetch', params: { method: 'GET', url: 'https://example.com/', timeoutMs: 1000 }, expect: ['refused', 'capability-not-granted', 'capability'] },
  { what: 'an operator without a grant for it', who: () => alice, capability: 'run_command', params: run('echo', ['hi']), expect: ['refused', 'delegation-capability', 'delegation'] },
  { what: 'params the tool refuses', who: () => owner, capability: 'read_file', params: { file: 'README.md' }, expect: ['refused', 'bad-params', 'params'] },
  { what: 'an agent that is not connected', who: () => owner, agent: () => offline, capability: 'read_file', params: { path: 'README.md' }, expect: ['refused', 'agent-offline', 'agent online'] },
  { what: 'a capability approvalRequired names, without rules', who: () => alice, capability: 'list_files', params: { path: '.' }, expect: ['needs-approval', 1] },
];

describe('the dry run agrees with the real dispatch', () => {
  test('a certificate without rules: every row as before issue 16 (approvalRequired decides what asks)', async () => {
    const view = await call(owner, 'agentsGet', { did: agent.did });
    assert.equal(view.policy && 'rules' in view.policy, false, 'approved without rules: none in the certified policy');
    for (const row of gateRows) await agree(row);
    await agree({ what: 'a command, not in approvalRequired', who: () => owner, capability: 'run_command', params: run('rm', ['-f', 'nothing']), expect: ['allowed'] });
    const write = await call(owner, 'policyTest', { agent: agent.did, capability: 'write_file', params: { path: 'a.txt', content: 'x', mode: 'create' } });
    assert.deepEqual([write.verdict, write.reviewers, write.rule?.source], ['needs-approval', 1, 'approvalRequired']);
  });

  test('with rules: allowed by a rule, denied by a rule (rule-denied), and the gates before them, on every row', async () => {
    await call(owner, 'policySet', { did: agent.did, policy: { ...OLD_POLICY, rules: RULES } });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 2);
    for (const row of gateRows) await agree(row);
    await agree({ what: 'a command a rule allows', who: () => owner, capability: 'run_command', params: run('echo', ['allowed']), expect: ['allowed'] });
    await agree({ what: 'a command a rule denies', who: () => owner, capability: 'run_command', params: run('rm', ['-f', 'nothing']), expect: ['refused', 'rule-denied', 'rules'] });
    await agree({ what: 'a write a rule denies', who: () => owner, capability: 'write_file', params: { path: 'app/.env', content: 'K=1', mode: 'create' }, expect: ['refused', 'rule-denied', 'rules'] });
    assert.ok(auditLines(broker.dataDir).some((l) => l.event === 'intent.refused' && l.reason === 'rule-denied'), 'rule-denied refusals are audited');
  });

  test('with rules: where the agent decides to ask (a rule for two reviewers, a default ask), it asks for as many reviewers as the dry run said', async () => {
    await agree({ what: 'a command a rule asks two reviewers about', who: () => owner, capability: 'run_command', params: run('git', ['push', 'origin', 'main']), expect: ['needs-approval', 2] });
    await agree({ what: 'a command only the default asks about', who: () => owner, capability: 'run_command', params: run('make', []), expect: ['needs-approval', 1] });
    await agree({ what: 'a write only the default asks about', who: () => owner, capability: 'write_file', params: { path: 'notes.txt', content: 'x', mode: 'create' }, expect: ['needs-approval', 1] });
  });
});

/** Deny rules of bare names that no call uses, padded so the rules' JSON is exactly `bytes` long. */
function rulesOfSize(bytes: number): PolicyRules {
  const rule = (name: string) => ({ effect: 'deny' as const, match: { argv: [name] } });
  const rules: ReturnType<typeof rule>[] = [];
  const size = () => utf8ByteLength(JSON.stringify({ run_command: { rules } }));
  while (size() < bytes) {
    const room = bytes - size() - utf8ByteLength(JSON.stringify(rule(''))) - (rules.length ? 1 : 0);
    rules.push(rule(`n${rules.length}-`.padEnd(Math.min(BUDGETS.rulePatternBytes.limit, Math.max(room, 1)), 'x')));
  }
  return { run_command: { rules } };
}

describe('the largest rules still fit the handshake', () => {
  test(`rules of BUDGETS.policyRulesBytes (${BUDGETS.policyRulesBytes.limit} bytes) with the most allowed domains reach a real agent in its certificate; one byte more is refused`, async () => {
    const atBound = rulesOfSize(BUDGETS.policyRulesBytes.limit);
    assert.equal(utf8ByteLength(JSON.stringify(atBound)), BUDGETS.policyRulesBytes.limit);
    assert.ok(atBound.run_command!.rules.length <= BUDGETS.policyRules.limit);
    const domains = Array.from({ length: BUDGETS.allowedDomains.limit }, (_, i) => `d${String(i).padStart(3, '0')}${'a'.repeat(59)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'e'.repeat(61)}`);
    const version = (await call(owner, 'agentsGet', { did: agent.did })).policy!.policyVersion;
    await call(owner, 'policySet', { did: agent.did, policy: { ...OLD_POLICY, allowedDomains: domains, rules: atBound } });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === version + 1, 20_000);
    const certified = await broker.log.waitFor('auth.succeeded', (l) => l.did === agent.did && l.policyVersion === version + 1);
    assert.equal(certified.policyVersion, version + 1, 'the broker co-signed the certificate with the largest rules');
    // The agent works on it: a call no rule names is asked about by the rules' default (none: approvalRequired, allow).
    await agree({ what: 'a command under the largest rules', who: () => owner, capability: 'run_command', params: run('echo', ['big']), expect: ['allowed'] });

    await expectRpcError(
      call(owner, 'policySet', { did: agent.did, policy: { ...OLD_POLICY, rules: rulesOfSize(BUDGETS.policyRulesBytes.limit + 1) } }),
      RpcErrorCode.InvalidParams,
      new RegExp(`more than ${BUDGETS.policyRulesBytes.limit} bytes`),
    );
    assert.equal((await call(owner, 'agentsGet', { did: agent.did })).policy?.policyVersion, version + 1);
    await call(owner, 'policySet', { did: agent.did, policy: { ...OLD_POLICY, rules: RULES } });
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === version + 2);
  });
});

function brokerCli(...args: string[]) {
  return spawnSync(process.execPath, [join(ROOT, 'dist', 'broker.js'), ...args, '--data-dir', broker.dataDir], { encoding: 'utf8', timeout: 30_000 });
}

describe('the CLI', () => {
  test('policy test prints the verdict and what decided it (--json the whole answer, --as another user); exit 2 when refused', async () => {
    const denied = brokerCli('policy', 'test', agent.did, 'run_command', JSON.stringify(run('rm', ['-rf', 'build'])));
    assert.equal(denied.status, 2, denied.stderr);
    assert.equal(denied.stdout, 'verdict: refused (rule-denied)\ndecided by: rules (run_command rule 1: deny ["rm","*"] (no deletes))\nwhy: refused by run_command rule 1: deny ["rm","*"] (no deletes)\n');
    const asks = brokerCli('policy', 'test', agent.did, 'run_command', JSON.stringify(run('make', [])));
    assert.equal(asks.status, 0, asks.stderr);
    assert.match(asks.stdout, /^verdict: needs 1 approval\ndecided by: rules \(run_command default: ask\)\n/);
    assert.match(asks.stdout, /the agent also checks: the agent resolves "make" on its sandbox's PATH/);
    const json = brokerCli('policy', 'test', agent.did, 'read_file', '{"path":"README.md"}', '--json', '--as', alice.did);
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).verdict, 'allowed');
    const asBob = brokerCli('policy', 'test', agent.did, 'read_file', '{"path":"README.md"}', '--as', bob.did);
    assert.equal(asBob.status, 2);
    assert.match(asBob.stdout, /^verdict: refused \(not allowed\)\ndecided by: role\nwhy: role reviewer may not call vaultysclaw\/intents\/dispatch\n$/);
    const badParams = brokerCli('policy', 'test', agent.did, 'read_file', '[1]');
    assert.equal(badParams.status, 1);
    assert.match(badParams.stderr, /params must be a JSON object/);
  });

  test('policy --rules-file sets rules from a document, refuses one whose example fails naming the rule, and none removes them', async () => {
    const dir = agent.workspace;
    const caps = (...more: Capability[]) => ['--capabilities', [...CAPABILITIES, ...more].join(','), '--approval-required', 'list_files,write_file', ...(more.length ? ['--widen'] : [])];
    const version = (await call(owner, 'agentsGet', { did: agent.did })).policy!.policyVersion;
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ run_command: { rules: [{ effect: 'deny', match: { argv: ['curl', '*'] }, examples: { doesNotMatch: [['curl', 'x']] } }] } }));
    const bad = brokerCli('policy', agent.did, ...caps(), '--rules-file', join(dir, 'bad.json'));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--rules-file .*bad\.json: rules\.run_command\.rules\[0\]\.examples\.doesNotMatch\[0\]: run_command rule 1 \(deny \["curl","\*"\]\): example \["curl","x"\] should not match but does/);
    const example = brokerCli('policy', 'set', agent.did, ...caps('http_fetch'), '--rules-file', join(ROOT, 'examples', 'rules', 'build-machine.json'));
    assert.equal(example.status, 0, example.stderr);
    assert.equal(JSON.parse(example.stdout).policy.rules.run_command.rules.length, 66);
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === version + 1);
    const kept = brokerCli('policy', agent.did, ...caps('http_fetch'), '--max-requests-per-hour', '90');
    assert.equal(kept.status, 0, kept.stderr);
    assert.equal(JSON.parse(kept.stdout).policy.rules.run_command.rules.length, 66, 'left out, the rules stay');
    const removed = brokerCli('policy', agent.did, ...caps(), '--rules-file', 'none');
    assert.equal(removed.status, 0, removed.stderr);
    assert.equal('rules' in JSON.parse(removed.stdout).policy, false);
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === version + 3);
  });
});
