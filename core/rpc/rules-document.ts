import type { z } from 'zod';
import { checkPolicyRules, type RulesProblem } from '../policy/rules';
import { PolicyRules } from '../wire/policy-rules';

/**
 * A rules JSON document as people write it (the CLI's `policy --rules-file`, the extension's rule editor), read in
 * the order its problems are worth fixing: JSON syntax, then the PolicyRules schema, then the rules' own examples
 * (checkPolicyRules). One answer for both, whose path points into the document and whose message names the rule,
 * so an editor can underline the right place and the CLI can print the same words.
 */
export type RulesDocument = { ok: true; rules: PolicyRules } | { ok: false; problem: RulesProblem };

export function readRulesDocument(text: string): RulesDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: { path: [], message: `not JSON: ${syntaxMessage(text, err)}` } };
  }
  const parsed = PolicyRules.safeParse(json);
  if (!parsed.success) return { ok: false, problem: schemaProblem(parsed.error.issues[0]) };
  const problem = checkPolicyRules(parsed.data);
  return problem === undefined ? { ok: true, rules: parsed.data } : { ok: false, problem };
}

/** V8's message, with the line and column its "position N" stands for, when it gives one. */
function syntaxMessage(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const position = /position (\d+)/.exec(message);
  if (position === null) return message;
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  return `${message} (line ${line}, column ${before.length - before.lastIndexOf('\n')})`;
}

function schemaProblem(issue: z.core.$ZodIssue | undefined): RulesProblem {
  if (issue === undefined) return { path: [], message: 'not a rule set' };
  // An unknown key is reported on its object; point at the key itself, where the typo is.
  const keys = issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : [];
  const path = [...issue.path, ...keys].map((p) => (typeof p === 'symbol' ? String(p) : p));
  const [capability, list, index, ...rest] = path;
  if (typeof capability === 'string' && list === 'rules' && typeof index === 'number') {
    const where = rest.length > 0 ? ` (${rest.join('.')})` : '';
    return { path, message: `${capability} rule ${index + 1}${where}: ${issue.message}` };
  }
  return { path, message: path.length > 0 ? `${path.join('.')}: ${issue.message}` : issue.message };
}
