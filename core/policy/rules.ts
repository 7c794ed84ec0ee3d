import { TASK_TOOLS, type IntentCall } from '../wire/task';
import type { Capability, CertifiedPolicy } from '../wire/policy';
import type { IntentOrigin } from '../wire/intent-origin';
import { CommandRule, HttpRule, PathRule, TaskRule, type AnyRule, type PolicyRules, type RuledCapability, type RuleEffect } from '../wire/policy-rules';
import { normaliseCommandPath } from './command-name';
import type { GateVerdict } from './intent-gates';
import { escapeGlob, joinSegments, normaliseWorkspacePath } from './path-glob';
import { httpExampleSubject, matchNames, subjectsOf, type Subject } from './rule-match';

/**
 * The allow / ask / deny rules of a certified policy (core/wire/policy-rules.ts), evaluated the same way by the
 * agent (which enforces them offline), the broker's pre-check and the dry run. First match wins, then the
 * capability's default; a capability without rules keeps its old meaning (ask when approvalRequired names it).
 *
 * Matching is written so a deny rule matches broadly and an allow or ask rule narrowly, because a rule that
 * fails to match falls through to the rules after it and then to the default:
 * - run_command: the rule's argv against [command, ...args], element by element; "*" is any number of arguments
 *   (zero included) anywhere, every other element is literal; without a "*" the argv must be exactly the rule's.
 *   A bare command name in a rule (git) matches the bare command git and an absolute path in a system directory
 *   (/usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin) ending in /git, however spelled
 *   (/usr/bin/../bin/git); an allow or ask rule never matches a relative or workspace path (./git, a planted
 *   binary), a deny rule matches any command whose last path segment is the name, and a bare command the host
 *   resolved to a file of that name. An absolute rule (/usr/bin/git) matches that path, and a bare command the
 *   agent host resolved to it (HostFacts.executables). A "*" as the rule's first element matches any command.
 *   Allow and ask compare exactly (no case folding, no Unicode normalisation: gіt with a Cyrillic і is another
 *   command); deny also compares the command name case-insensitively. Arguments compare exactly for every effect
 *   (git -c and git -C are different options).
 * - paths: the workspace-relative path normalised (./, //, a/../b); a path that is absolute or climbs out of the
 *   workspace matches no allow or ask rule, only deny rules and the default. On the agent also each real path the
 *   call reaches through a symlink (HostFacts.realPaths): the strictest verdict of all of them holds (deny > ask
 *   with more reviewers > ask > allow). Deny rules match case-insensitively, allow and ask rules exactly.
 *   list_files matches the directory it lists.
 * - http_fetch: the URL's host against the rule's host pattern (domainAllowed), its methods if given, and the
 *   WHATWG-parsed pathname under pathPrefix at a segment boundary (/api names /api and /api/x, not /api2). An allow
 *   or ask prefix never matches a path with an encoded / . or \ (%2F, %2E, %5C) a server might decode past it; a
 *   deny prefix also matches the decoded path, case-insensitively.
 * - llm_task: an allow or ask rule matches a task whose tool set (taskTools) is within the rule's tools; a deny
 *   rule matches a task that may use any of them. Each tool call the task's model makes is decided again by its
 *   own capability's rules.
 * A rule with chosenBy "model" speaks only for a call a model chose (ChosenBy): it is skipped, as if absent, for a
 * call a person chose, so such a rule can only add care to a model's calls, never take it from a person's.
 * Every match is O(pattern × input) (no backtracking regex), within the bounds of core/budgets.ts.
 */

/**
 * Who chose a call: "model" for each tool call an llm_task's model makes and for every call of an intent whose
 * signed `via` says a model dispatched it; "person" for the call of an intent a person dispatched. Required of every
 * caller, so no path can forget to say and fall back on a reading the agent would not share.
 */
export type ChosenBy = 'model' | 'person';

/** Who chose an intent's own call, from its signed `via` (for the broker: the `via` it signs, or would). */
export const chosenByOf = (via: IntentOrigin | undefined): ChosenBy => (via === undefined ? 'person' : 'model');

/** What only the agent host knows about a call; the broker and the dry run pass none (lexical matching only). */
export interface HostFacts {
  /**
   * The absolute paths the command resolves to on the agent host: for a bare name the file its PATH inside the
   * sandbox finds, and that file's real target when it is a link; for a path, its real target. Empty: not found.
   */
  executables?: readonly string[];
  /** Workspace-relative real paths the file call reaches through symlinks, besides its lexical path. */
  realPaths?: readonly string[];
}

export type RuleSource =
  | { kind: 'rule'; capability: Capability; index: number }
  | { kind: 'default'; capability: Capability }
  /** No rules for this capability: the certificate's approvalRequired decides, as before rules existed. */
  | { kind: 'approvalRequired'; capability: Capability };

export interface RuleDecision {
  effect: RuleEffect;
  /** Distinct approvals an ask needs (1 unless the rule says more); 0 for allow and deny. */
  reviewers: number;
  /** The rule lets the dispatching user review a model's call (selfReview "model-calls"). */
  selfReview: boolean;
  source: RuleSource;
  /** In words, for refusals, the approval panel and the dry run: 'run_command rule 3: deny ["rm","*"] (no deletes)'. */
  description: string;
}

type Policy = Pick<CertifiedPolicy, 'rules' | 'approvalRequired'>;

/** What a capability gets where no rule speaks and no default is set: its meaning before rules existed. */
const approvalRequiredEffect = (policy: Policy, capability: Capability): RuleEffect => (policy.approvalRequired.includes(capability) ? 'ask' : 'allow');

/** The decision of the policy's rules for one call (an intent's own call, or a tool call a task's model made). */
export function decideCall(policy: Policy, call: IntentCall, chosenBy: ChosenBy, facts?: HostFacts): RuleDecision {
  const capability = call.capability;
  const entry = policy.rules?.[capability];
  if (entry === undefined) {
    const effect = approvalRequiredEffect(policy, capability);
    const words = effect === 'ask' ? 'needs approval (approvalRequired)' : 'allowed (no rules, not in approvalRequired)';
    return { effect, reviewers: effect === 'ask' ? 1 : 0, selfReview: false, source: { kind: 'approvalRequired', capability }, description: `${capability}: ${words}` };
  }
  // Every path the call reaches is judged, and the strictest verdict holds: a symlink into .github/ is a write to .github/.
  const decisions = subjectsOf(call, facts?.realPaths, facts?.executables).map((subject) => decideSubject(policy, capability, subject, chosenBy));
  return decisions.reduce((strictest, d) => (strictness(d) > strictness(strictest) ? d : strictest));
}

function decideSubject(policy: Policy, capability: RuledCapability, subject: Subject, chosenBy: ChosenBy): RuleDecision {
  const entry = policy.rules![capability]!;
  const rules: readonly AnyRule[] = entry.rules;
  const index = rules.findIndex((rule) => (rule.chosenBy === undefined || rule.chosenBy === chosenBy) && matchNames(rule.match, subject, rule.effect === 'deny'));
  if (index >= 0) {
    const rule = rules[index]!;
    return {
      effect: rule.effect,
      reviewers: rule.effect === 'ask' ? (rule.reviewers ?? 1) : 0,
      selfReview: rule.effect === 'ask' && rule.selfReview === 'model-calls',
      source: { kind: 'rule', capability, index },
      description: `${ruleName(capability, index)}: ${describeRule(capability, rule)}`,
    };
  }
  const effect = entry.default ?? approvalRequiredEffect(policy, capability);
  const stated = entry.default === undefined ? (effect === 'ask' ? ' (approvalRequired)' : ' (not in approvalRequired)') : '';
  return { effect, reviewers: effect === 'ask' ? 1 : 0, selfReview: false, source: { kind: 'default', capability }, description: `${capability} default: ${effect}${stated}` };
}

/** deny > ask with more reviewers > ask a requester may not self-review > ask > allow. */
const strictness = (d: RuleDecision): number => (d.effect === 'deny' ? 1_000 : d.effect === 'ask' ? 10 * d.reviewers + (d.selfReview ? 0 : 1) : 0);

/** 'run_command rule 3': 1-based, as people count; RulesProblem.path stays 0-based. */
const ruleName = (capability: Capability, index: number): string => `${capability} rule ${index + 1}`;

/** A deny decision as the gate verdict both sides give ('rule-denied', naming the rule), else ok. */
export function checkCallRules(decision: RuleDecision): GateVerdict {
  return decision.effect === 'deny' ? { ok: false, reason: 'rule-denied', message: `refused by ${decision.description}` } : { ok: true };
}

/**
 * Whether any call of `capability` could need a reviewer under this policy (for answer deadlines): approvalRequired
 * where no rules speak, an ask rule, an ask default. A task may ask for any tool call its model makes.
 */
export function mayAsk(policy: Policy, capability: Capability): boolean {
  const entry = policy.rules?.[capability];
  const own = (entry?.default ?? approvalRequiredEffect(policy, capability)) === 'ask' || (entry?.rules.some((rule) => rule.effect === 'ask') ?? false);
  return own || (capability === 'llm_task' && TASK_TOOLS.some((tool) => mayAsk(policy, tool)));
}

/** Where a rule set is wrong, with the path into it (["run_command","rules",2,"examples","matches",0]) an editor can point at. */
export interface RulesProblem {
  path: (string | number)[];
  message: string;
}

type Example = readonly string[] | string;

const RULED_CAPABILITIES = ['run_command', 'read_file', 'list_files', 'write_file', 'http_fetch', 'llm_task'] as const satisfies readonly RuledCapability[];

/** An example as the subject the rule is matched against, the same reading a real call gets. */
function exampleSubject(capability: RuledCapability, example: Example): Subject {
  if (capability === 'http_fetch') return httpExampleSubject(example as string);
  if (capability === 'llm_task') return { capability, tools: example as TaskRule['match']['tools'] };
  if (capability === 'run_command') return { capability, argv: example as readonly string[] };
  return { capability, path: normaliseWorkspacePath(example as string) };
}

/**
 * Checked when a policy is set: every rule's examples match (or do not) as they say. The first problem, naming the
 * rule and the example. Each example is matched against its own rule alone, not the list: it documents what the
 * rule means, whatever comes before it. Rules for a capability the policy does not grant are checked the same and
 * kept: one rule file serves a fleet, and a capability granted later arrives with its rules already in force.
 */
export function checkPolicyRules(rules: PolicyRules): RulesProblem | undefined {
  for (const capability of RULED_CAPABILITIES) {
    const entry = rules[capability];
    if (entry === undefined) continue;
    const list: readonly AnyRule[] = entry.rules;
    for (const [index, rule] of list.entries()) {
      const sides = [
        ['matches', rule.examples?.matches, true],
        ['doesNotMatch', rule.examples?.doesNotMatch, false],
      ] as const;
      for (const [side, examples, expected] of sides) {
        for (const [n, example] of ((examples ?? []) as readonly Example[]).entries()) {
          if (matchNames(rule.match, exampleSubject(capability, example), rule.effect === 'deny') === expected) continue;
          return {
            path: [capability, 'rules', index, 'examples', side, n],
            message: `${ruleName(capability, index)} (${describeRule(capability, rule)}): example ${JSON.stringify(example)} should ${expected ? '' : 'not '}match but ${expected ? 'does not' : 'does'}`,
          };
        }
      }
    }
  }
  return undefined;
}

/** The first rule that speaks only for a model's calls (chosenBy "model"), by name: 'run_command rule 2'. */
export function modelOnlyRule(rules: PolicyRules): string | undefined {
  for (const capability of RULED_CAPABILITIES) {
    const index = ((rules[capability]?.rules ?? []) as readonly AnyRule[]).findIndex((rule) => rule.chosenBy !== undefined);
    if (index >= 0) return ruleName(capability, index);
  }
  return undefined;
}

/**
 * The narrowest allow rule for exactly this call, for "approve and allow this from now on": the exact argv with no
 * "*", the exact path with glob characters escaped, method + host + the exact URL path, the exact tool set. Null
 * when the call cannot be named exactly (a command given as a relative path, an argument that is "*" or empty,
 * a pattern past the rule budgets, a path outside the workspace, an IP-literal host, a rule that would not match).
 */
export function exactAllowRule(call: IntentCall): { capability: Capability; rule: AnyRule } | null {
  const exact = <T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }, match: unknown): T | null => {
    const parsed = schema.safeParse({ effect: 'allow', match });
    return parsed.success ? parsed.data : null;
  };
  // The rule must name the call it was made from: a URL path with %2F, say, which no allow prefix matches, gets none.
  const named = (rule: AnyRule | null) => (rule !== null && matchNames(rule.match, subjectsOf(call)[0]!, false) ? { capability: call.capability, rule } : null);
  switch (call.capability) {
    case 'run_command': {
      const { command, args } = call.params;
      if (command.includes('/') && !command.startsWith('/')) return null;
      const argv = [command.startsWith('/') ? normaliseCommandPath(command) : command, ...args];
      // "*" is the wildcard element and has no escape: an argument spelled "*" cannot be allowed exactly.
      if (argv.includes('*')) return null;
      return named(exact(CommandRule, { argv }));
    }
    case 'read_file':
    case 'list_files':
    case 'write_file': {
      const path = normaliseWorkspacePath(call.params.path);
      if (!path.inside) return null;
      return named(exact(PathRule, { path: escapeGlob(joinSegments(path.segments)) }));
    }
    case 'http_fetch': {
      if (!URL.canParse(call.params.url)) return null;
      const url = new URL(call.params.url);
      return named(exact(HttpRule, { methods: [call.params.method], host: url.hostname.replace(/\.$/, ''), pathPrefix: url.pathname }));
    }
    case 'llm_task': {
      const tools = subjectsOf(call)[0] as Extract<Subject, { capability: 'llm_task' }>;
      return named(exact(TaskRule, { tools: TASK_TOOLS.filter((t) => tools.tools.includes(t)) }));
    }
  }
}

/** One rule in words, as descriptions show it: 'ask ["git","push","*"]', 'deny **\/.env*', 'ask src/** (2 reviewers)'. */
export function describeRule(capability: Capability, rule: AnyRule): string {
  const words = [rule.effect, matchWords(capability, rule)];
  if (rule.effect === 'ask' && rule.reviewers !== undefined && rule.reviewers > 1) words.push(`(${rule.reviewers} reviewers)`);
  if (rule.effect === 'ask' && rule.selfReview === 'model-calls') words.push('(model calls: self-review)');
  if (rule.chosenBy === 'model') words.push('(calls a model chose)');
  if (rule.note !== undefined) words.push(`(${rule.note})`);
  return words.join(' ');
}

function matchWords(capability: Capability, rule: AnyRule): string {
  const match = rule.match;
  if ('argv' in match) return JSON.stringify(match.argv);
  if ('path' in match) return match.path;
  if ('host' in match) return `${match.methods?.join(',') ?? 'any method'} ${match.host}${match.pathPrefix ?? ''}`;
  return `${capability} with tools ${JSON.stringify(match.tools)}`;
}
