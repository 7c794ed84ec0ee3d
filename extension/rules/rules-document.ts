import { findNodeAtLocation, parse, parseTree, printParseErrorCode, stripComments, type ParseError } from 'jsonc-parser';
import { readRulesDocument } from '../../core/rpc/rules-document';
import type { AgentView, PolicyInput } from '../../core/rpc/views';
import { CAPABILITIES, type CertifiedPolicy } from '../../core/wire/policy';
import type { PolicyRules, RuledCapability } from '../../core/wire/policy-rules';

/**
 * The rule editor's document, without the editor API: a JSONC file holding exactly a PolicyRules object (so a
 * problem's path into the rules is a path into the document), its starter text, and where a problem points.
 */

/** Every rules document ends so: package.json's jsonValidation gives it the PolicyRules schema by this pattern. */
export const RULES_FILE_SUFFIX = '.vaultysclaw-rules.jsonc';

/** "<name>--<40 hex>.vaultysclaw-rules.jsonc": the agent's name for people (only safe characters), its DID for us. */
export function rulesFileName(agent: Pick<AgentView, 'did' | 'name'>): string {
  const name = agent.name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '').slice(0, 40) || 'agent';
  return `${name}--${agent.did.slice('did:vaultys:'.length)}${RULES_FILE_SUFFIX}`;
}

/** The agent a rules document is for, read back from its file name; undefined for any other file. */
export function agentOfRulesFile(fileName: string): string | undefined {
  const m = /--([0-9a-f]{40})\.vaultysclaw-rules\.jsonc$/.exec(fileName);
  return m ? `did:vaultys:${m[1]}` : undefined;
}

const RULED: readonly RuledCapability[] = ['run_command', 'read_file', 'list_files', 'write_file', 'http_fetch', 'llm_task'];

/** A commented example of each kind, so the starter shows how a rule is written without adding any. */
const EXAMPLES: Record<RuledCapability, string[]> = {
  run_command: [
    '{ "effect": "allow", "match": { "argv": ["git", "status"] }, "examples": { "matches": [["git", "status"]] } },',
    '{ "effect": "ask", "match": { "argv": ["git", "push", "*"] }, "reviewers": 2, "note": "two people for a push" },',
    '{ "effect": "deny", "match": { "argv": ["rm", "*"] }, "note": "no deletes" }',
  ],
  read_file: ['{ "effect": "deny", "match": { "path": "**/.env*" }, "examples": { "matches": [".env", "app/.env.local"] } }'],
  list_files: ['{ "effect": "allow", "match": { "path": "**" } }'],
  write_file: ['{ "effect": "allow", "match": { "path": "src/**" } },', '{ "effect": "ask", "match": { "path": ".github/**" } }'],
  http_fetch: ['{ "effect": "allow", "match": { "methods": ["GET"], "host": "registry.npmjs.org" } }'],
  llm_task: ['{ "effect": "ask", "match": { "tools": ["write_file"] }, "selfReview": "model-calls" }'],
};

function header(agent: Pick<AgentView, 'did' | 'name'>, policy: Pick<CertifiedPolicy, 'policyVersion'>): string[] {
  return [
    `// Policy rules of ${agent.name.replace(/[\r\n\u2028\u2029]/g, ' ')} (${agent.did}), policy v${policy.policyVersion}.`,
    '// Save to apply them: the broker checks each rule and its examples, then re-issues the agent\'s policy with them.',
    '// Per capability, the first rule that matches decides (allow, ask or deny), else its "default"; deny beats any',
    '// approval. A capability left out keeps its old meaning: ask if the policy says it needs approval, else allow.',
  ];
}

/**
 * What the editor opens: the agent's current rules, or, for an agent without any, one entry per granted capability
 * with the default its approvalRequired gives today (so saving the starter as it is changes nothing) and
 * commented examples.
 */
export function rulesDocumentText(agent: Pick<AgentView, 'did' | 'name'>, policy: Pick<CertifiedPolicy, 'policyVersion' | 'capabilities' | 'approvalRequired' | 'rules'>): string {
  if (policy.rules) return `${[...header(agent, policy), JSON.stringify(policy.rules, null, 2)].join('\n')}\n`;
  const granted = RULED.filter((c) => policy.capabilities.includes(c));
  const entries = granted.map((c, i) => {
    const effect = policy.approvalRequired.includes(c) ? 'ask' : 'allow';
    return [
      `  "${c}": {`,
      `    "default": "${effect}",`,
      '    "rules": [',
      ...EXAMPLES[c].map((e) => `      // ${e}`),
      '    ]',
      `  }${i < granted.length - 1 ? ',' : ''}`,
    ].join('\n');
  });
  return `${[...header(agent, policy), '{', ...entries, '}'].join('\n')}\n`;
}

/** A problem of the document, where it is: a path into the rules (as RulesProblem and zod give it) or an offset. */
export interface DocumentProblem {
  message: string;
  path?: (string | number)[];
  offset?: number;
  length?: number;
}

/** The range a problem points at: its node, else the nearest enclosing node that exists (a missing field: its object). */
export function problemRange(text: string, problem: DocumentProblem): { offset: number; length: number } {
  if (problem.offset !== undefined) return { offset: problem.offset, length: problem.length ?? 1 };
  const root = parseTree(text);
  if (!root) return { offset: 0, length: 0 };
  for (let path = problem.path ?? []; ; path = path.slice(0, -1)) {
    const node = findNodeAtLocation(root, path);
    if (node) {
      // A whole capability entry or rules list is many lines: its key says which one, and reads better underlined.
      const key = (node.type === 'object' || node.type === 'array') && node.parent?.type === 'property' ? node.parent.children?.[0] : undefined;
      return key ? { offset: key.offset, length: key.length } : { offset: node.offset, length: node.length };
    }
    if (path.length === 0) return { offset: root.offset, length: 1 };
  }
}

/**
 * The rules a document holds, or its problems: JSON syntax (every error, at its offset, comments allowed), then
 * the schema and the rules' own examples as the CLI's --rules-file reads them (core/rpc/rules-document.ts, one
 * reading and one wording for both), with the path into the rules an editor underlines.
 */
export function readRulesText(text: string): { ok: true; rules: PolicyRules } | { ok: false; problems: DocumentProblem[] } {
  const errors: ParseError[] = [];
  parse(text, errors, { allowTrailingComma: false, disallowComments: false });
  if (errors.length) {
    return { ok: false, problems: errors.map((e) => ({ message: `JSON: ${printParseErrorCode(e.error)}`, offset: e.offset, length: Math.max(e.length, 1) })) };
  }
  // Comments become spaces: the syntax is already checked above, and a problem is placed by its path, not an offset.
  const read = readRulesDocument(stripComments(text, ' '));
  return read.ok ? read : { ok: false, problems: [read.problem] };
}

/**
 * The path a broker refusal names ("rules.run_command.rules[2].examples.matches[0]: …", as policy/set words a
 * RulesProblem), so its diagnostic points at the rule too; [] (the document) when it names none.
 */
export function refusalPath(message: string): (string | number)[] {
  const named = /\brules\.([A-Za-z_]+(?:\.[A-Za-z_]+|\[\d+\])*): /.exec(message);
  if (!named) return [];
  return [...named[1]!.matchAll(/([A-Za-z_]+)|\[(\d+)\]/g)].map((t) => (t[2] !== undefined ? Number(t[2]) : t[1]!));
}

const DAY_MS = 24 * 60 * 60_000;

/** The agent's policy as it is, with these rules: what policy/set receives. Its expiry stays where it is. */
export function policyWithRules(policy: CertifiedPolicy, rules: PolicyRules, now: number): { ok: true; policy: PolicyInput } | { ok: false; problem: string } {
  const remaining = policy.policyExpiresAt - now;
  // Re-issuing must not quietly extend a policy: an expired one is renewed deliberately, with Edit Agent Policy.
  if (remaining < 60_000) return { ok: false, problem: 'the agent\'s policy has expired (or expires within a minute): renew it with "Edit Agent Policy" first' };
  return {
    ok: true,
    policy: {
      capabilities: CAPABILITIES.filter((c) => policy.capabilities.includes(c)),
      approvalRequired: policy.approvalRequired,
      maxTokensPerDay: policy.maxTokensPerDay,
      maxRequestsPerHour: policy.maxRequestsPerHour,
      validForMs: Math.min(Math.floor(remaining), 366 * DAY_MS),
      allowedDomains: policy.allowedDomains,
      commandLimits: policy.commandLimits,
      rules,
    },
  };
}
