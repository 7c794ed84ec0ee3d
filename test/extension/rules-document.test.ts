// The rule editor's document without the editor: the starter an agent without rules gets (saving it unchanged
// keeps the policy's meaning), where each kind of problem points (JSON syntax, the schema, a failing example, a
// capability not granted), the policy policy/set receives, and the dry run's answer in words.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'jsonc-parser';
import { decideCall } from '../../core/policy/rules';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import { PolicyInput, PolicyTestResult, type AgentView } from '../../core/rpc/views';
import type { CertifiedPolicy } from '../../core/wire/policy';
import type { IntentCall } from '../../core/wire/task';
import { PolicyRules } from '../../core/wire/policy-rules';
import { verdictDetails, verdictHeadline } from '../../extension/rules/policy-test-text';
import { agentOfRulesFile, policyWithRules, problemRange, readRulesText, refusalPath, rulesDocumentText, rulesFileName } from '../../extension/rules/rules-document';
import { policyRulesJsonSchema } from '../../extension/rules/rules-schema';
import { rulesSummary } from '../../extension/model/agents-tree';

const DID = `did:vaultys:00${'ab'.repeat(19)}`;
const NOW = 1_700_000_000_000;
const policy = (over: Partial<CertifiedPolicy> = {}): CertifiedPolicy => ({
  status: 'approved', policyId: 'p', policyVersion: 3, capabilities: ['read_file', 'write_file', 'run_command'], approvalRequired: ['write_file'], maxTokensPerDay: 10,
  maxRequestsPerHour: 5, policyExpiresAt: NOW + 86_400_000, approvalTimeoutMs: 60_000, allowedDomains: ['registry.npmjs.org'], commandLimits: MAX_COMMAND_LIMITS, ...over,
});
const agent: Pick<AgentView, 'did' | 'name'> = { did: DID, name: 'build box\u202E/../x' };

/** The text a range covers. */
const at = (text: string, r: { offset: number; length: number }) => text.slice(r.offset, r.offset + r.length);

describe('the rule editor\'s document', () => {
  test('an agent without rules gets a commented starter that keeps what approvalRequired means today', () => {
    const p = policy();
    const text = rulesDocumentText(agent, p);
    assert.match(text, /^\/\/ Policy rules of build box\u202E\/\.\.\/x \(did:vaultys:00(ab){19}\), policy v3\./);
    const read = readRulesText(text);
    assert.ok(read.ok, JSON.stringify(read));
    assert.deepEqual(read.rules, { run_command: { default: 'allow', rules: [] }, read_file: { default: 'allow', rules: [] }, write_file: { default: 'ask', rules: [] } });
    // Same decisions as without rules, for every granted capability.
    const calls: IntentCall[] = [
      { capability: 'read_file', params: { path: 'a' } },
      { capability: 'write_file', params: { path: 'a', content: '', mode: 'create' } },
      { capability: 'run_command', params: { command: 'ls', args: [], cwd: '.', timeoutMs: 1000 } },
    ];
    for (const call of calls) assert.equal(decideCall({ ...p, rules: read.rules }, call, 'person').effect, decideCall(p, call, 'person').effect, call.capability);
    // Its commented examples are valid rules once uncommented.
    const uncommented = parse(text.replace(/^\s*\/\/ (\{.*\}),?$/gm, '$1,').replace(/,(\s*\])/g, '$1'));
    assert.equal(PolicyRules.safeParse(uncommented).success, true, JSON.stringify(PolicyRules.safeParse(uncommented).error?.issues));
    assert.equal((uncommented as PolicyRules).run_command!.rules.length, 3);
  });

  test('an agent with rules gets them, and a document reads back to exactly them', () => {
    const rules: PolicyRules = { run_command: { default: 'ask', rules: [{ effect: 'deny', match: { argv: ['rm', '*'] }, note: 'no deletes' }] } };
    const text = rulesDocumentText(agent, policy({ rules }));
    const read = readRulesText(text);
    assert.ok(read.ok);
    assert.deepEqual(read.rules, rules);
  });

  test('each problem points at the rule: syntax, schema, a failing example, a capability not granted', () => {
    const syntax = '{\n  "run_command": { "rules": [ } \n}';
    const s = readRulesText(syntax);
    assert.ok(!s.ok);
    assert.match(s.problems[0]!.message, /^JSON: /);
    assert.equal(at(syntax, problemRange(syntax, s.problems[0]!)), '}');

    const schema = '{ "run_command": { "rules": [ { "effect": "allow", "match": { "argv": ["git"] } }, { "effect": "maybe", "match": { "argv": ["ls"] } } ] } }';
    const sc = readRulesText(schema);
    assert.ok(!sc.ok);
    assert.deepEqual(sc.problems[0]!.path, ['run_command', 'rules', 1, 'effect']);
    assert.equal(at(schema, problemRange(schema, sc.problems[0]!)), '"maybe"');

    const askOnly = '{ "write_file": { "rules": [ { "effect": "allow", "match": { "path": "src/**" }, "reviewers": 2 } ] } }';
    const ao = readRulesText(askOnly);
    assert.ok(!ao.ok);
    assert.match(ao.problems[0]!.message, /reviewers and selfReview belong to a rule whose effect is ask/);
    assert.match(at(askOnly, problemRange(askOnly, ao.problems[0]!)), /^\{ "effect": "allow".*"reviewers": 2 \}$/, 'the whole rule');

    const example = [
      '{',
      '  "run_command": {',
      '    "rules": [',
      '      { "effect": "allow", "match": { "argv": ["git", "status"] }, "examples": { "matches": [["git", "status"], ["git", "push"]] } }',
      '    ]',
      '  }',
      '}',
    ].join('\n');
    const ex = readRulesText(example);
    assert.ok(!ex.ok);
    assert.deepEqual(ex.problems[0]!.path, ['run_command', 'rules', 0, 'examples', 'matches', 1]);
    assert.match(ex.problems[0]!.message, /run_command rule 1 .*example \["git","push"\] should match but does not/);
    assert.equal(at(example, problemRange(example, ex.problems[0]!)), '["git", "push"]');

    const unknown = '{ "run_commands": { "rules": [] } }';
    const g = readRulesText(unknown);
    assert.ok(!g.ok);
    assert.match(g.problems[0]!.message, /run_commands/);
    assert.equal(at(unknown, problemRange(unknown, g.problems[0]!)), '"run_commands"', 'a whole entry: its key');

    // A missing field points at the object that lacks it; a path the document does not have, at the document.
    const missing = '{ "read_file": { "rules": [ { "effect": "deny" } ] } }';
    const m = readRulesText(missing);
    assert.ok(!m.ok);
    assert.equal(at(missing, problemRange(missing, m.problems[0]!)), '{ "effect": "deny" }');
    assert.equal(problemRange(missing, { message: 'x', path: ['nothing', 3] }).offset, 0);

    // The broker's refusal names the same path in its words.
    const refusal = 'invalid params: rules.run_command.rules[0].examples.matches[1]: run_command rule 1 ...';
    assert.deepEqual(refusalPath(refusal), ['run_command', 'rules', 0, 'examples', 'matches', 1]);
    assert.equal(at(example, problemRange(example, { message: refusal, path: refusalPath(refusal) })), '["git", "push"]');
    assert.deepEqual(refusalPath('not allowed: only admins'), []);
  });

  test('policy/set receives the current policy with the rules, its expiry kept; an expired policy is not re-issued', () => {
    const rules: PolicyRules = { write_file: { rules: [{ effect: 'ask', match: { path: '.github/**' } }] } };
    const built = policyWithRules(policy(), rules, NOW);
    assert.ok(built.ok);
    assert.deepEqual(PolicyInput.parse(built.policy), {
      capabilities: ['read_file', 'write_file', 'run_command'], approvalRequired: ['write_file'], maxTokensPerDay: 10, maxRequestsPerHour: 5, validForMs: 86_400_000,
      allowedDomains: ['registry.npmjs.org'], commandLimits: MAX_COMMAND_LIMITS, rules,
    });
    const expired = policyWithRules(policy({ policyExpiresAt: NOW + 59_000 }), rules, NOW);
    assert.ok(!expired.ok && /expired/.test(expired.problem));
  });

  test('a file name carries the agent\'s DID and only safe characters of its name', () => {
    const name = rulesFileName(agent);
    assert.equal(name, `build-box-..-x--00${'ab'.repeat(19)}.vaultysclaw-rules.jsonc`);
    assert.doesNotMatch(name, /[/\u202E ]/);
    assert.equal(agentOfRulesFile(name), DID);
    assert.equal(agentOfRulesFile(rulesFileName({ did: DID, name: '../../..' })), DID);
    assert.equal(agentOfRulesFile('settings.json'), undefined);
    assert.equal(agentOfRulesFile(`x--${'ab'.repeat(20)}.vaultysclaw-rules.json`), undefined);
  });

  test('the JSON schema is the zod schema\'s, with hover text for completion', () => {
    const schema = policyRulesJsonSchema() as { properties: Record<string, { properties: { rules: { items: { properties: Record<string, { description?: string; enum?: string[] }> } } } }> };
    const rule = schema.properties.run_command!.properties.rules.items.properties;
    assert.deepEqual(rule.effect!.enum, ['allow', 'ask', 'deny']);
    assert.match(rule.reviewers!.description ?? '', /distinct reviewers/);
    assert.deepEqual(Object.keys(schema.properties), ['run_command', 'read_file', 'list_files', 'write_file', 'http_fetch', 'llm_task']);
  });

  test('the Agents view summarises the rules', () => {
    assert.equal(rulesSummary(policy()), 'none (Needs approval decides)');
    assert.equal(rulesSummary(policy({ rules: { run_command: { default: 'ask', rules: [{ effect: 'allow', match: { argv: ['git', 'status'] } }] }, write_file: { rules: [] } } })), 'run_command 1 rule, default ask · write_file 0 rules');
  });
});

describe('Test Policy\'s answer', () => {
  const call = { agentName: 'box', capability: 'run_command', summary: 'git push origin', asUser: 'olga' };
  const result = (over: Partial<PolicyTestResult>): PolicyTestResult =>
    PolicyTestResult.parse({ verdict: 'allowed', reason: null, gate: 'rules', message: 'ok', rule: null, reviewers: 0, selfReview: false, hostChecks: [], ...over });

  test('allowed, needs N approvals, refused with gate and reason, and what only the host checks', () => {
    assert.equal(verdictHeadline(result({ rule: { source: 'rule', index: 0, effect: 'allow', description: 'run_command rule 1: allow ["git","*"]' } }), call), 'Allowed: run_command git push origin on box would run without a reviewer (run_command rule 1: allow ["git","*"]).');
    const ask = result({ verdict: 'needs-approval', reviewers: 2, rule: { source: 'rule', index: 1, effect: 'ask', description: 'run_command rule 2: ask ["git","push","*"] (2 reviewers)' }, hostChecks: ['the command git is resolved on the agent host'] });
    assert.equal(verdictHeadline(ask, call), 'Needs 2 approvals: run_command git push origin on box would wait for 2 distinct reviewers (run_command rule 2: ask ["git","push","*"] (2 reviewers)).');
    const details = verdictDetails(ask, call);
    assert.match(details, /^Verdict: +needs 2 approvals$/m);
    assert.match(details, /^Rule: +rule 2, effect ask: run_command rule 2/m, 'counted from 1, as the descriptions count');
    assert.match(details, /Checked only on the agent host[\s\S]*- the command git is resolved on the agent host/);
    const refused = result({ verdict: 'refused', reason: 'rule-denied', gate: 'rules', message: 'refused by run_command rule 3: deny ["rm","*"]\u202E' });
    assert.equal(verdictHeadline(refused, call), 'Refused (rule-denied) by rules: run_command git push origin on box: refused by run_command rule 3: deny ["rm","*"]⟨U+202E⟩');
    assert.match(verdictDetails(refused, call), /^Verdict: +refused \(rule-denied\)\nDecided by: +rules\nWhy: +refused by run_command rule 3: deny \["rm","\*"\]⟨U\+202E⟩$/m);
  });
});
