import { z } from 'zod';
import { BUDGETS } from '../budgets';
import { Utf8Text, utf8ByteLength } from './common';
import { DomainPattern } from './domain-pattern';
import { TaskTool } from './task';
import { HttpFetchParams } from './tools';

/**
 * Rules a reviewer can live with (issue 16), carried in the certified policy so the agent enforces them offline:
 * per capability an ordered list of { effect, match }, first match wins, then the capability's default. Commands
 * are matched as the argument vector the agent executes without a shell, so a rule means exactly what it says.
 * Matching is in core/policy/rules.ts, shared by the agent, the broker's pre-check and the dry run.
 */

export const RuleEffect = z.enum(['allow', 'ask', 'deny']);
export type RuleEffect = z.infer<typeof RuleEffect>;

/** The most distinct reviewers one rule may require (the two-person rule and up). */
export const MAX_REVIEWERS = 5;

const Pattern = Utf8Text(BUDGETS.rulePatternBytes.limit).min(1);

/**
 * run_command: an argv prefix [command, ...args] matched element by element, exactly (no case folding, no
 * Unicode normalisation). A "*" element stands for any number of arguments, so ["git","push","*"] is git push with
 * anything after it and ["find","*","-exec","*"] is find with -exec anywhere. The command is a bare name (git,
 * found on the sandbox's PATH) or an absolute path (/usr/bin/git); see core/policy/rules.ts for how each matches.
 */
export const CommandMatch = z.strictObject({
  argv: z
    .array(Pattern)
    .min(1)
    .max(BUDGETS.ruleArgvItems.limit)
    // zod runs this refinement even when .min(1) failed: an empty argv must be refused, not throw out of safeParse.
    .refine((argv) => argv[0] === undefined || argv[0] === '*' || !argv[0].includes('/') || argv[0].startsWith('/'), {
      message: 'the command is a bare name (git) or an absolute path (/usr/bin/git), not a relative path',
    }),
});

/**
 * read_file, list_files, write_file: a glob over the workspace-relative path (src/**, **\/.env*, docs/*.md):
 * "**" is any number of whole segments, "*" any characters but "/", "?" one of them, "\" escapes the next one.
 * Dot-files are matched like any other name.
 */
export const PathMatch = z.strictObject({
  path: Pattern.refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), {
    message: 'a glob relative to the workspace root, without a leading / or a .. segment',
  }),
});

/** http_fetch: the URL's host (a DomainPattern), optionally its methods and a path prefix (a whole segment or more). */
export const HttpMatch = z.strictObject({
  methods: z.array(HttpFetchParams.shape.method).min(1).max(5).optional(),
  host: DomainPattern,
  pathPrefix: Pattern.refine((p) => p.startsWith('/'), { message: 'a path prefix starts with /' }).optional(),
});

/** llm_task: a task whose tools are all among these (a task without a tool list may use every tool). */
export const TaskMatch = z.strictObject({ tools: z.array(TaskTool).min(1).max(TaskTool.options.length) });

/** One example of each kind: what a rule's examples are written as. */
export const CommandExample = z.array(Utf8Text(8192)).min(1).max(257);
/** A workspace-relative path. */
export const PathExample = Utf8Text(4096).min(1);
/** "GET https://registry.npmjs.org/react": a method, a space, a URL. */
export const HttpExample = Utf8Text(2100).regex(/^(GET|POST|PUT|DELETE|HEAD) https?:\/\/\S+$/, { message: 'a method, a space and an absolute URL' });
/** The tools of a task. */
export const TaskExample = z.array(TaskTool).min(1).max(TaskTool.options.length);

const ruleOf = <M extends z.ZodType, E extends z.ZodType>(match: M, example: E) =>
  z
    .strictObject({
      effect: RuleEffect,
      match,
      /** ask only: distinct reviewers needed, none of them the requester; any one rejection ends the call. Absent: 1. */
      reviewers: z.number().int().min(1).max(MAX_REVIEWERS).optional(),
      /** ask only: the user who dispatched an llm_task may approve the calls its model chose (audited as self-review). */
      selfReview: z.literal('model-calls').optional(),
      /**
       * "model": the rule applies only to calls a model chose (an llm_task's tool calls, and intents an editor AI or
       * an MCP client dispatched: the signed `via`); other calls skip it. Needs an agent that reads `via` (0.5.0).
       */
      chosenBy: z.literal('model').optional(),
      /** Why the rule is there: shown with refusals, in the approval panel and in the dry run. */
      note: Utf8Text(200).optional(),
      /** Checked when the policy is set: a policy whose examples fail is refused, naming the rule and the example. */
      examples: z
        .strictObject({
          matches: z.array(example).max(BUDGETS.ruleExamples.limit).optional(),
          doesNotMatch: z.array(example).max(BUDGETS.ruleExamples.limit).optional(),
        })
        .optional(),
    })
    .refine((r) => r.effect === 'ask' || (r.reviewers === undefined && r.selfReview === undefined), {
      message: 'reviewers and selfReview belong to a rule whose effect is ask',
    });

export const CommandRule = ruleOf(CommandMatch, CommandExample);
export const PathRule = ruleOf(PathMatch, PathExample);
export const HttpRule = ruleOf(HttpMatch, HttpExample);
export const TaskRule = ruleOf(TaskMatch, TaskExample);
export type CommandRule = z.infer<typeof CommandRule>;
export type PathRule = z.infer<typeof PathRule>;
export type HttpRule = z.infer<typeof HttpRule>;
export type TaskRule = z.infer<typeof TaskRule>;
export type AnyRule = CommandRule | PathRule | HttpRule | TaskRule;

const rulesOf = <R extends z.ZodType>(rule: R) =>
  z.strictObject({
    /** What a call no rule matches gets. Absent: ask if the policy's approvalRequired names the capability, else allow. */
    default: RuleEffect.optional(),
    rules: z.array(rule).max(BUDGETS.policyRules.limit),
  });

/** Per capability; a capability without an entry keeps the meaning it had before rules (approvalRequired). */
export const PolicyRules = z
  .strictObject({
    run_command: rulesOf(CommandRule).optional(),
    read_file: rulesOf(PathRule).optional(),
    list_files: rulesOf(PathRule).optional(),
    write_file: rulesOf(PathRule).optional(),
    http_fetch: rulesOf(HttpRule).optional(),
    llm_task: rulesOf(TaskRule).optional(),
  })
  .refine((r) => Object.values(r).reduce((n, c) => n + (c?.rules.length ?? 0), 0) <= BUDGETS.policyRules.limit, {
    message: `at most ${BUDGETS.policyRules.limit} rules in one policy`,
  })
  .refine((r) => utf8ByteLength(JSON.stringify(r)) <= BUDGETS.policyRulesBytes.limit, {
    message: `the rules take more than ${BUDGETS.policyRulesBytes.limit} bytes as JSON`,
  });
export type PolicyRules = z.infer<typeof PolicyRules>;
export type RuledCapability = keyof PolicyRules;
