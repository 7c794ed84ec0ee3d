import type { IntentCall } from '../wire/task';
import type { Capability, CertifiedPolicy } from '../wire/policy';
import type { AnyRule, PolicyRules, RuleEffect } from '../wire/policy-rules';
import type { GateVerdict } from './intent-gates';

/**
 * The allow / ask / deny rules of a certified policy (core/wire/policy-rules.ts), evaluated the same way by the
 * agent (which enforces them offline), the broker's pre-check and the dry run. First match wins, then the
 * capability's default; a capability without rules keeps its old meaning (ask when approvalRequired names it).
 *
 * Matching is written so a deny rule matches broadly and an allow or ask rule narrowly, because a rule that
 * fails to match falls through to the rules after it and then to the default:
 * - run_command: a bare command name in a rule (git) matches the bare command git and an absolute path in a
 *   system directory ending in /git; an allow or ask rule never matches a relative or workspace path (./git, a
 *   planted binary), a deny rule matches any command whose last path segment is the name. An absolute rule
 *   (/usr/bin/git) matches that path, and a bare command the agent host resolved to it (HostFacts.executable).
 * - paths: the workspace-relative path normalised (./, //, a/../b); on the agent also each real path the call
 *   reaches through a symlink (HostFacts.realPaths): the strictest verdict of all of them holds. Deny rules
 *   match case-insensitively, allow and ask rules exactly.
 * Every match is O(pattern × input) (no backtracking regex), within the bounds of core/budgets.ts.
 */

/** What only the agent host knows about a call; the broker and the dry run pass none (lexical matching only). */
export interface HostFacts {
  /** The absolute path a bare command resolves to on the agent host (its PATH inside the sandbox, symlinks resolved), or null. */
  executable?: string | null;
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

/** The decision of the policy's rules for one call (an intent's own call, or a tool call a task's model made). */
export function decideCall(policy: Pick<CertifiedPolicy, 'rules' | 'approvalRequired'>, call: IntentCall, facts?: HostFacts): RuleDecision {
  void policy;
  void call;
  void facts;
  throw new Error('decideCall: not merged yet (wip/rules-engine)');
}

/** A deny decision as the gate verdict both sides give ('rule-denied', naming the rule), else ok. */
export function checkCallRules(decision: RuleDecision): GateVerdict {
  void decision;
  throw new Error('checkCallRules: not merged yet (wip/rules-engine)');
}

/** Whether any call of `capability` could need a reviewer under this policy (for answer deadlines). */
export function mayAsk(policy: Pick<CertifiedPolicy, 'rules' | 'approvalRequired'>, capability: Capability): boolean {
  void policy;
  void capability;
  throw new Error('mayAsk: not merged yet (wip/rules-engine)');
}

/** Where a rule set is wrong, with the path into it (["run_command","rules",2,"examples","matches",0]) an editor can point at. */
export interface RulesProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Checked when a policy is set: every rule's examples match (or do not) as they say, and each rule and default
 * names a granted capability. The first problem, naming the rule and the example.
 */
export function checkPolicyRules(rules: PolicyRules, granted: readonly Capability[]): RulesProblem | undefined {
  void rules;
  void granted;
  throw new Error('checkPolicyRules: not merged yet (wip/rules-engine)');
}

/**
 * The narrowest allow rule for exactly this call, for "approve and allow this from now on": the exact argv with no
 * "*", the exact path with glob characters escaped, method + host + the exact URL path, the exact tool set. Null
 * when the call cannot be named exactly (a command given as a relative path).
 */
export function exactAllowRule(call: IntentCall): { capability: Capability; rule: AnyRule } | null {
  void call;
  throw new Error('exactAllowRule: not merged yet (wip/rules-engine)');
}

/** One rule in words, as descriptions show it: 'ask ["git","push","*"]', 'deny **\/.env*'. */
export function describeRule(capability: Capability, rule: AnyRule): string {
  void capability;
  void rule;
  throw new Error('describeRule: not merged yet (wip/rules-engine)');
}
