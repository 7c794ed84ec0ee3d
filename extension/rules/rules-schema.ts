import { z } from 'zod';
import { PolicyRules } from '../../core/wire/policy-rules';

/** Hover text for the editor's completion, by property name (the zod schema documents them in comments only). */
const DESCRIPTIONS: Record<string, string> = {
  default: 'What a call no rule matches gets. Absent: ask if the policy names the capability as needing approval, else allow.',
  rules: 'In order: the first rule that matches decides.',
  effect: 'allow: runs at once; ask: waits for reviewers; deny: refused (rule-denied), whatever any reviewer says.',
  argv: 'The command and its arguments, matched element by element without a shell; a "*" element stands for any number of arguments. The command is a bare name (git) or an absolute path (/usr/bin/git).',
  path: 'A glob relative to the workspace: ** is any number of segments, * any characters but /, ? one of them, \\ escapes.',
  host: 'A lower-case host name, or *. followed by one.',
  methods: 'HTTP methods the rule covers; absent: all.',
  pathPrefix: 'A URL path prefix (whole segments), starting with /.',
  tools: 'A task whose tools are all among these.',
  reviewers: 'ask only: distinct reviewers needed (1 to 5), none of them the requester; any one rejection ends the call.',
  selfReview: 'ask only: the user who dispatched an llm_task may approve the calls its model chose (audited as self-review).',
  note: 'Why the rule is there: shown with refusals, in the approval panel and in Test Policy.',
  examples: 'Checked when the policy is set: a rule whose examples fail is refused, naming the rule and the example.',
  matches: 'Calls this rule must match.',
  doesNotMatch: 'Calls this rule must not match.',
};

function describe(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(describe);
  if (!node || typeof node !== 'object') return;
  const properties = (node as { properties?: Record<string, Record<string, unknown>> }).properties;
  for (const [name, property] of Object.entries(properties ?? {})) {
    if (DESCRIPTIONS[name] && property.description === undefined) property.description = DESCRIPTIONS[name];
  }
  Object.values(node).forEach(describe);
}

/**
 * The JSON schema of a rules document (PolicyRules, from the one zod schema broker and agent parse with), written
 * into dist/ at build time (esbuild.mjs) for package.json's jsonValidation. Refinements (the byte budget, ask-only
 * fields) do not translate: the extension checks them with the zod schema itself when the document is saved.
 */
export function policyRulesJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(PolicyRules, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  describe(schema);
  return { ...schema, title: 'VaultysClaw policy rules', description: 'Allow / ask / deny rules per capability: the first rule that matches decides, else the default.' };
}
