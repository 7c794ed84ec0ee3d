import * as z from 'zod/mini';

/**
 * The result view's messages, both directions: zod/mini schemas both sides parse with (as approval-messages.ts).
 * The extension builds a ResultView from an intent's detail and its progress (extension/results/result-view-model.ts)
 * and posts it; the webview (webviews/results/main.ts) checks it before rendering, and the extension checks what
 * the webview sends before acting on it. Every string in a view is others' text and is rendered as text only.
 */

const Party = z.strictObject({ did: z.string(), name: z.string() });
export type Party = z.infer<typeof Party>;

/** A time as its epoch, its local text and its relative text; the webview re-computes `relative` on a timer. */
export const TimeText = z.strictObject({ at: z.number(), local: z.string(), relative: z.string() });
export type TimeText = z.infer<typeof TimeText>;

export const ListingRow = z.strictObject({ name: z.string(), type: z.string(), size: z.string() });
export type ListingRow = z.infer<typeof ListingRow>;

export const TaskCall = z.strictObject({
  tool: z.string(),
  /** The arguments the model chose, as the agent reported them (cut at 300 characters by the agent). */
  args: z.string(),
  /** "done", "failed", or "refused: <sentence>". */
  result: z.string(),
  /** Who approved the call, by name, when a rule asked for a review; empty when none was asked. */
  approvedBy: z.array(z.string()),
});
export type TaskCall = z.infer<typeof TaskCall>;

export const TaskStep = z.strictObject({ step: z.number(), texts: z.array(z.string()), calls: z.array(TaskCall), tokens: z.nullable(z.number()) });
export type TaskStep = z.infer<typeof TaskStep>;

export const ResultBody = z.discriminatedUnion('kind', [
  /** Nothing to show yet (sent, or a tool that streams nothing), or nothing at all (refused before it ran). */
  z.strictObject({ kind: z.literal('none'), text: z.string() }),
  z.strictObject({ kind: z.literal('file'), path: z.string(), size: z.string(), truncated: z.boolean(), lineCount: z.number(), content: z.string() }),
  z.strictObject({ kind: z.literal('listing'), path: z.string(), rows: z.array(ListingRow), truncated: z.boolean() }),
  z.strictObject({
    kind: z.literal('command'),
    commandLine: z.string(),
    cwd: z.string(),
    /** Null while it runs. */
    exit: z.nullable(z.string()),
    duration: z.nullable(z.string()),
    stdout: z.string(),
    stderr: z.string(),
    notes: z.array(z.string()),
  }),
  z.strictObject({ kind: z.literal('write'), path: z.string(), size: z.string(), mode: z.string() }),
  z.strictObject({
    kind: z.literal('http'),
    request: z.string(),
    status: z.string(),
    headers: z.array(z.strictObject({ name: z.string(), value: z.string() })),
    body: z.string(),
    notes: z.array(z.string()),
  }),
  z.strictObject({ kind: z.literal('task'), instruction: z.string(), steps: z.array(TaskStep), finalText: z.nullable(z.string()), notes: z.array(z.string()) }),
  /** An output of a shape this view does not know: shown as indented JSON rather than not at all. */
  z.strictObject({ kind: z.literal('raw'), text: z.string() }),
]);
export type ResultBody = z.infer<typeof ResultBody>;

export const Verdict = z.strictObject({ holds: z.boolean(), sentence: z.string() });
export type Verdict = z.infer<typeof Verdict>;

export const ResultView = z.strictObject({
  intentId: z.string(),
  capability: z.string(),
  /** "read_file README.md", "run_command ls -la": what the heading says. */
  title: z.string(),
  agent: Party,
  requester: Party,
  /** A model chose it (the intent's signed via), in words: "the editor's AI (vscode-lm)"; absent: a person did. */
  origin: z.optional(z.string()),
  state: z.string(),
  /** Still running: the body grows as progress arrives. */
  live: z.boolean(),
  /** The outcome as a sentence: "The agent refused it: the path leaves the workspace." Null while all is well. */
  problem: z.nullable(z.string()),
  created: TimeText,
  updated: TimeText,
  locale: z.string(),
  body: ResultBody,
  /** The signed envelopes are there to show and verify (the broker sent them with the detail). */
  signed: z.strictObject({ intent: z.boolean(), result: z.boolean() }),
  /** Parts the broker left out of the detail for size. */
  omitted: z.array(z.string()),
  /** What Verify last found, or null before it was asked. */
  verification: z.nullable(z.strictObject({ intent: Verdict, result: Verdict })),
});
export type ResultView = z.infer<typeof ResultView>;

export const ExtensionToWebview = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('view'), view: ResultView }),
  /** No intent to show (a restored panel whose intent this broker does not know, or not connected): why, in words. */
  z.strictObject({ type: z.literal('notice'), text: z.string() }),
]);
export type ExtensionToWebview = z.infer<typeof ExtensionToWebview>;

/** The webview is an edge like any other: what it sends is checked before anything reads it. */
export const WebviewToExtension = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('showEnvelope') }),
  z.strictObject({ type: z.literal('verify') }),
  z.strictObject({ type: z.literal('openDocument') }),
]);
export type WebviewToExtension = z.infer<typeof WebviewToExtension>;

/** What the webview keeps with setState: the intent it shows, so a restored panel can ask for it again. */
export const ResultWebviewState = z.strictObject({ intentId: z.nullable(z.string().check(z.regex(/^[0-9a-f]{32}$/))) });
export type ResultWebviewState = z.infer<typeof ResultWebviewState>;
