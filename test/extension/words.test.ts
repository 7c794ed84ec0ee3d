// Issue 17, clear words: the status bar in sentences, agent rows with their state and capabilities, ages that stay
// true on a timer, write_file content never taken from a result document, the policy wizard's questions (LLM tokens
// only with llm_task) and its one-click "Approve as requested", and the Connecting… empty state.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import { PolicyInput } from '../../core/rpc/views';
import type { AgentView, ApprovalView, UserView } from '../../core/rpc/views';
import { panelState } from '../../extension/approval/panel-controller';
import { approvalsTree } from '../../extension/model/approvals-tree';
import { LOCAL_OPERATOR_EXPLAINED, LOCAL_OPERATOR_NAME } from '../../extension/model/local-operator';
import { contentSources, type OpenDocument } from '../../extension/intent-params';
import { activityTree } from '../../extension/model/activity-tree';
import { agentDescription, agentNode, agentsTree, awaitedAgents, EXPECTED_AGENT_GRACE_MS } from '../../extension/model/agents-tree';
import { connectedStatus, type StatusFacts } from '../../extension/model/status-summary';
import { count, md, refreshAges } from '../../extension/model/tree-node';
import { answerText, asRequested, initialAnswers, policyFromAnswers, policySteps } from '../../extension/policy-choice';
import { AgeTicker } from '../../extension/views/age-refresh';

const ME = `did:vaultys:00${'aa'.repeat(19)}`;
const OTHER = `did:vaultys:00${'bb'.repeat(19)}`;
const AGENT = `did:vaultys:00${'cd'.repeat(19)}`;
const MIN = 60_000;

function agent(over: Partial<AgentView> = {}): AgentView {
  return {
    did: AGENT, name: 'build-1', status: 'approved', statusReason: null, requested: ['read_file', 'list_files'], online: true,
    policy: { status: 'approved', policyId: 'p', policyVersion: 1, capabilities: ['read_file', 'list_files'], approvalRequired: [], maxTokensPerDay: 10, maxRequestsPerHour: 5, policyExpiresAt: Date.now() + 86_400_000, approvalTimeoutMs: 60_000, allowedDomains: [], commandLimits: MAX_COMMAND_LIMITS },
    confinement: null, usage: { requestsLastHour: 0, tokensToday: 0 }, firstSeen: 0, lastSeen: Date.now(), ...over,
  };
}

function approval(user: string, over: Partial<ApprovalView> = {}): ApprovalView {
  return {
    requestId: `${user.slice(-2)}`.repeat(16), intentId: 'e'.repeat(32), agent: AGENT, user, capability: 'write_file', params: { path: 'a.txt', content: 'x', mode: 'create' }, cwd: '/w',
    requestedAt: 1, expiresAt: Date.now() + MIN, state: 'pending', decidedBy: null, reason: null, decidedAt: null, reviewersRequired: 1, approvals: [], modelCall: false, paramsTruncated: false, ...over,
  };
}

const facts = (over: Partial<StatusFacts> = {}): StatusFacts => ({ label: 'local broker', me: { did: ME, name: 'dev', role: 'owner', removed: false }, grantedRole: 'owner', expectedRole: 'owner', agents: [], approvals: [], ...over });

describe('the status bar in words', () => {
  test('0, 1 and 2 agents online: "no agent", "1 agent", "2 agents"', () => {
    assert.equal(count(1, 'agent'), '1 agent');
    assert.equal(count(2, 'agent'), '2 agents');
    assert.equal(count(0, 'approval'), '0 approvals');
    assert.equal(connectedStatus(facts()).text, '$(shield) no agent online');
    assert.equal(connectedStatus(facts({ agents: [agent()] })).text, '$(shield) 1 agent online');
    assert.equal(connectedStatus(facts({ agents: [agent(), agent({ did: OTHER })] })).text, '$(shield) 2 agents online');
    assert.equal(connectedStatus(facts({ agents: [agent({ online: false }), agent({ status: 'revoked' })] })).text, '$(shield) no agent online', 'offline and revoked agents are not online');
  });

  test('0, 1 and 2 approvals waiting; the warning only when one waits on this user', () => {
    const none = connectedStatus(facts({ agents: [agent()] }));
    assert.equal(none.warning, false);
    assert.match(none.tooltip, /No tool call waiting for approval/);

    const one = connectedStatus(facts({ agents: [agent()], approvals: [approval(OTHER)] }));
    assert.equal(one.text, '$(shield) 1 agent online · 1 approval waiting');
    assert.equal(one.warning, true, 'somebody else asked: this owner may decide');
    assert.match(one.tooltip, /1 tool call waiting for approval: 1 you may decide/);

    const own = connectedStatus(facts({ agents: [agent()], approvals: [approval(ME)] }));
    assert.equal(own.text, '$(shield) 1 agent online · 1 approval waiting');
    assert.equal(own.warning, false, 'my own request waits on somebody else, not on me');
    assert.match(own.tooltip, /none you may decide, 1 waiting on another reviewer/);

    const two = connectedStatus(facts({ approvals: [approval(OTHER), approval(ME, { requestId: 'f'.repeat(32) })] }));
    assert.equal(two.text, '$(shield) no agent online · 2 approvals waiting');
    assert.match(two.tooltip, /2 tool calls waiting for approval: 1 you may decide, 1 waiting on another reviewer/);

    const operator = connectedStatus(facts({ me: { did: ME, name: 'dev', role: 'operator', removed: false }, grantedRole: 'operator', expectedRole: undefined, approvals: [approval(OTHER)] }));
    assert.equal(operator.warning, false, 'an operator cannot decide: nothing waits on them');
    const approvedByMe = connectedStatus(facts({ approvals: [approval(OTHER, { reviewersRequired: 2, approvals: [{ reviewer: ME, decidedAt: 1, selfReview: false }] })] }));
    assert.equal(approvedByMe.warning, false, 'I gave my approval already; the second one is somebody else\'s');
  });

  test('registrations to review and a changed role are said in words', () => {
    const pending = connectedStatus(facts({ agents: [agent({ status: 'pending', policy: null })] }));
    assert.equal(pending.text, '$(shield) no agent online · 1 registration to review');
    assert.match(pending.tooltip, /1 agent registration waiting for an admin \(you may decide\)/);
    assert.equal(pending.warning, true);
    const demoted = connectedStatus(facts({ me: { did: ME, name: 'dev', role: 'admin', removed: false } }));
    assert.equal(demoted.text, '$(shield) no agent online · $(warning) you are admin');
    assert.doesNotMatch(demoted.text, /\?|🔔|bell/);
  });
});

describe('agent rows', () => {
  test('say their state and capabilities, then the fingerprint; the DID is in the tooltip', () => {
    const now = Date.now();
    const online = agentNode(agent(), now);
    assert.equal(online.description, 'online · read_file, list_files · 00CD CDCD CDCD CDCD');
    assert.match(online.tooltip!, new RegExp(`DID: \`${AGENT}\``));
    assert.equal(agentDescription(agent({ online: false, lastSeen: now - 5 * MIN }), now), 'offline, seen 5 min ago · read_file, list_files · 00CD CDCD CDCD CDCD');
    assert.equal(agentDescription(agent({ status: 'pending', policy: null, requested: ['read_file'] }), now), 'waiting for approval · online · asks read_file · 00CD CDCD CDCD CDCD');
    assert.equal(agentDescription(agent({ status: 'revoked', statusReason: 'decommissioned', online: false }), now), 'revoked: decommissioned · 00CD CDCD CDCD CDCD');
    assert.equal(agentDescription(agent({ status: 'rejected', statusReason: null, policy: null }), now), 'rejected · 00CD CDCD CDCD CDCD');
    assert.equal(agentDescription(agent({ policy: { ...agent().policy!, capabilities: [] } }), now), 'online · nothing · 00CD CDCD CDCD CDCD');
    assert.deepEqual(agentsTree([agent(), agent({ did: OTHER, name: 'b' })], now).map((g) => g.description), ['2 agents']);
    assert.doesNotMatch(JSON.stringify(agentsTree([agent()], now).map((g) => g.description)), /1 agents/);
  });
});

describe('relative ages stay true', () => {
  test('refreshAges rewrites only the rows whose age words changed, in place, from the data already held', () => {
    const built = Date.now();
    const tree = agentsTree([agent({ online: false, lastSeen: built - 30_000 }), agent({ did: OTHER, name: 'b', online: true })], built);
    const offline = tree.find((g) => g.label === 'Offline')!.children![0]!;
    assert.match(offline.description!, /^offline, seen just now · /);
    const onlineRow = tree.find((g) => g.label === 'Online')!.children![0]!;
    const onlineText = onlineRow.description;
    assert.deepEqual(refreshAges(tree, built + 20_000), [], 'nothing changed within the minute: nothing repainted');
    const changed = refreshAges(tree, built + 3 * MIN);
    assert.ok(changed.includes(offline), 'the offline row is repainted');
    assert.match(offline.description!, /^offline, seen 3 min ago · /);
    assert.ok(!changed.includes(onlineRow) && onlineRow.description === onlineText, 'an online row has no age in its words');
    const seen = offline.children!.find((c) => c.label === 'Last seen')!;
    assert.ok(changed.includes(seen) && /^3 min ago/.test(seen.description!), 'its Last seen detail too');

    const intent = { id: 'c'.repeat(32), agent: AGENT, capability: 'read_file', params: { path: 'a' }, paramsTruncated: false, user: ME, outcome: null, reason: null, rejectedBy: null, message: null, state: 'succeeded', createdAt: built, updatedAt: built } as const;
    const rows = activityTree([intent], { names: { agent: () => undefined, user: () => undefined }, approvals: [], users: [], stalenessMs: 300_000, now: built });
    assert.match(rows[0]!.description!, /· just now$/);
    refreshAges(rows, built + 2 * MIN);
    assert.match(rows[0]!.description!, /· 2 min ago$/);
  });

  test('the ticker runs only while a view is visible, refreshes at once when one is shown, and survives a throwing tick', async () => {
    let ticks = 0;
    const ticker = new AgeTicker(() => {
      ticks++;
      if (ticks === 2) throw new Error('a bad row');
    }, 20);
    try {
      assert.equal(ticker.running, false);
      ticker.setVisible('agents', true);
      assert.equal(ticks, 1, 'shown: brought up to date at once');
      assert.equal(ticker.running, true);
      await sleep(150);
      assert.ok(ticks >= 3, `ticking while visible, past a throwing tick (${ticks})`);
      ticker.setVisible('activity', true);
      ticker.setVisible('agents', false);
      assert.equal(ticker.running, true, 'one view still visible');
      ticker.setVisible('activity', false);
      assert.equal(ticker.running, false, 'every view hidden: no timer');
      const stopped = ticks;
      await sleep(100);
      assert.equal(ticks, stopped, 'no tick while hidden');
    } finally {
      ticker.dispose();
    }
  });
});

describe('write_file content sources', () => {
  test('files and typed untitled text are offered; results, intents and the untitled JSON a result opened never are', () => {
    const docs: OpenDocument[] = [
      { uri: 'vaultysclaw-intent:/read_file-1234abcd-result.json', scheme: 'vaultysclaw-intent', languageId: 'json', label: 'read_file-1234abcd-result.json' },
      { uri: 'vaultysclaw-result:/read_file', scheme: 'vaultysclaw-result', languageId: 'plaintext', label: 'result' },
      { uri: 'untitled:Untitled-1', scheme: 'untitled', languageId: 'json', label: 'Untitled-1' },
      { uri: 'file:///w/notes.md', scheme: 'file', languageId: 'markdown', label: 'notes.md' },
      { uri: 'untitled:Untitled-2', scheme: 'untitled', languageId: 'plaintext', label: 'Untitled-2' },
      { uri: 'output:extension-output', scheme: 'output', languageId: 'log', label: 'VaultysClaw' },
      { uri: 'git:/w/notes.md', scheme: 'git', languageId: 'markdown', label: 'notes.md (HEAD)' },
      { uri: 'file:///w/notes.md', scheme: 'file', languageId: 'markdown', label: 'notes.md' },
    ];
    assert.deepEqual(contentSources(docs).map((d) => d.uri), ['file:///w/notes.md', 'untitled:Untitled-2']);
  });
});

describe('the policy wizard', () => {
  test('asks LLM tokens only with llm_task, domains and limits only with a tool that runs or fetches', () => {
    assert.deepEqual(policySteps(['read_file', 'write_file']), ['capabilities', 'approval', 'requests', 'days']);
    assert.deepEqual(policySteps(['read_file', 'llm_task']), ['capabilities', 'approval', 'requests', 'tokens', 'days', 'domains', 'limits']);
    assert.deepEqual(policySteps(['run_command']), ['capabilities', 'approval', 'requests', 'days', 'domains', 'limits']);
    assert.deepEqual(policySteps([]), ['capabilities', 'requests', 'days'], 'nothing granted: nothing to review');
  });

  test('"Approve as requested": exactly what was asked, nothing paused for a reviewer, sane defaults, a valid policy', () => {
    const pending = agent({ status: 'pending', policy: null, requested: ['read_file', 'list_files', 'write_file', 'run_command', 'not-a-tool'] });
    const { policy, summary } = asRequested(pending);
    assert.deepEqual(policy.capabilities, ['read_file', 'list_files', 'write_file', 'run_command']);
    assert.deepEqual(policy.approvalRequired, []);
    assert.deepEqual([policy.maxRequestsPerHour, policy.validForMs, policy.allowedDomains, policy.commandLimits], [60, 30 * 86_400_000, [], {}]);
    assert.equal(summary, 'read_file, list_files, write_file, run_command · no reviewer needed · 60 requests/h · 30 days · no network');
    assert.ok(PolicyInput.safeParse(policy).success);
    assert.doesNotMatch(asRequested(agent({ status: 'pending', policy: null, requested: ['read_file'] })).summary, /token|network/);
    assert.match(asRequested(agent({ status: 'pending', policy: null, requested: ['llm_task'] })).summary, /100,000 LLM tokens\/day/);
  });

  test('Edit Policy starts from the current policy and keeps its expiry unless the admin changes it', () => {
    const current = agent({ policy: { ...agent().policy!, approvalRequired: ['read_file'], maxRequestsPerHour: 7, policyExpiresAt: Date.now() + 2 * 86_400_000 } });
    const a = initialAnswers(current);
    assert.deepEqual([a.capabilities, a.approvalRequired, a.maxRequestsPerHour], [['read_file', 'list_files'], ['read_file'], '7']);
    assert.equal(answerText('days', a, current), '2 days from now');
    assert.equal(answerText('approval', a, current), 'read_file');
    const built = policyFromAnswers(a, current);
    assert.ok(built.ok);
    assert.ok(Math.abs(built.policy.validForMs! - 2 * 86_400_000) < 5_000, 'the expiry is kept');
  });
});

describe('empty states', () => {
  test('an expected agent is awaited ("Connecting…") until it is known or the grace period ends', () => {
    const since = 1_000_000;
    assert.deepEqual(awaitedAgents(['demo-agent'], [], since, since + 19_000), ['demo-agent']);
    assert.deepEqual(awaitedAgents(['demo-agent'], [{ name: 'demo-agent' }], since, since + 19_000), [], 'it arrived');
    assert.deepEqual(awaitedAgents(['demo-agent'], [], since, since + EXPECTED_AGENT_GRACE_MS + 1), [], 'too long: offer enrolment');
    assert.deepEqual(awaitedAgents([], [], since, since), [], 'nothing expected: "No agents yet" is true');
  });
});

describe('"local operator" explained wherever it appears', () => {
  const OPERATOR_USER = { did: OTHER, name: LOCAL_OPERATOR_NAME, role: 'owner', removed: false } as unknown as UserView;
  const DEV = { did: ME, name: 'dev', role: 'operator', removed: false } as unknown as UserView;
  const users: Record<string, UserView> = { [OTHER]: OPERATOR_USER, [ME]: DEV };
  const names = { agent: () => undefined, user: (did: string) => users[did] };
  const explained = (text: string | undefined) => (text ?? '').includes(md(LOCAL_OPERATOR_EXPLAINED));
  const intent = (user: string) => ({ id: `${user.slice(-1)}`.repeat(32), agent: AGENT, capability: 'write_file', params: { path: 'a.txt' }, paramsTruncated: false, user, outcome: null, reason: null, rejectedBy: null, message: null, state: 'sent', createdAt: 1, updatedAt: 1 }) as const;

  test('an Activity row\'s tooltip, when the local operator asked or is the only one who may review; not otherwise', () => {
    const byOperator = activityTree([intent(OTHER)], { names, approvals: [], users: [OPERATOR_USER, DEV], stalenessMs: 300_000, now: 2 })[0]!;
    assert.ok(explained(byOperator.tooltip), byOperator.tooltip);
    const waiting = intent(ME);
    const paused = activityTree([waiting], { names, approvals: [approval(ME, { intentId: waiting.id })], users: [OPERATOR_USER, DEV], stalenessMs: 300_000, now: 2 })[0]!;
    assert.match(paused.description ?? '', /^waiting for approval by local operator/);
    assert.ok(explained(paused.tooltip), 'the only reviewer is the host key: said where the row names it');
    const plain = activityTree([waiting], { names, approvals: [], users: [OPERATOR_USER, DEV], stalenessMs: 300_000, now: 2 })[0]!;
    assert.ok(!explained(plain.tooltip), 'nothing about it where it does not appear');
  });

  test('an Approvals row\'s tooltip and the approval panel\'s requester and reviewer lines', () => {
    assert.ok(explained(approvalsTree([approval(OTHER)], names, 2)[0]!.tooltip));
    assert.ok(!explained(approvalsTree([approval(ME)], names, 2)[0]!.tooltip));
    const state = (user: string, reviewer: { did: string; name: string; role: 'owner' | 'reviewer' }) => panelState(approval(user), { names, reviewer, connected: true, busy: false, error: null, notice: null, now: 2 });
    assert.equal(state(OTHER, { did: ME, name: 'dev', role: 'reviewer' }).localOperator, LOCAL_OPERATOR_EXPLAINED, 'asked by the host key');
    assert.equal(state(ME, { did: OTHER, name: LOCAL_OPERATOR_NAME, role: 'owner' }).localOperator, LOCAL_OPERATOR_EXPLAINED, 'reviewed as the host key');
    assert.equal(state(ME, { did: `did:vaultys:00${'ef'.repeat(19)}`, name: 'rev', role: 'reviewer' }).localOperator, null);
    assert.match(LOCAL_OPERATOR_EXPLAINED, /broker host's own key .*not a person in an editor.*this extension when it runs that command line/);
  });
});
