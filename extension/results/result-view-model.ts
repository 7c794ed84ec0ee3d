import { BUDGETS } from '../../core/budgets';
import { FINAL_INTENT_STATES, type ApprovalView, type IntentDetail, type IntentSummary } from '../../core/rpc/views';
import type { ProgressStream } from '../../core/wire/intent';
import { problemSentence, sentence } from '../../core/rpc/intent-problem';
import { HttpFetchOutput, ListFilesOutput, ReadFileOutput, RunCommandOutput, TaskOutput, WriteFileOutput } from '../../core/wire/tool-outputs';
import { localTime, relativeTime, usableLocale } from '../../core/webview/relative-time';
import { originName } from '../model/origin-words';
import type { ResultBody, ResultView, TaskCall, TaskStep, Verdict } from '../../core/webview/result-messages';

/** One progress notification as the broker forwarded it. */
export interface ProgressEntry {
  seq: number;
  stream: ProgressStream;
  text: string;
}

/** What the view is built from: the intent as far as it is known (a summary until its detail is read). */
export type ResultIntent = Omit<IntentSummary, 'paramsTruncated'> & Partial<Pick<IntentDetail, 'output' | 'signedIntent' | 'signedResult' | 'omitted'>>;

export interface ResultInputs {
  intent: ResultIntent;
  /** Its progress, in any order (deduplicated by seq here). */
  progress: readonly ProgressEntry[];
  /** Approval requests of this intent (a task's model calls that a rule sent to review). */
  approvals: readonly ApprovalView[];
  /** A person's or agent's name by DID, when this session knows it. */
  nameOf: (did: string) => string | undefined;
  now: number;
  locale: string;
  verification?: { intent: Verdict; result: Verdict } | null;
  /** The oldest progress was dropped to keep within BUDGETS.resultProgressBytes. */
  progressDropped?: boolean;
}

const DROPPED_NOTE = `The earliest progress was dropped: this window keeps the last ${BUDGETS.resultProgressBytes.limit / 1024} KiB of an intent's progress.`;

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v));

/** "532 B", "1.2 KiB": a size as people read it, digits in their locale. */
export function sizeText(bytes: number | null | undefined, locale: string): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '—';
  const number = (n: number, digits: number) => new Intl.NumberFormat(usableLocale(locale), { maximumFractionDigits: digits }).format(n);
  if (bytes < 1024) return `${number(bytes, 0)} B`;
  if (bytes < 1024 * 1024) return `${number(bytes / 1024, 1)} KiB`;
  return `${number(bytes / (1024 * 1024), 1)} MiB`;
}

/** "420 ms", "3.2 s", "2 min 5 s". */
export function durationText(ms: number, locale: string): string {
  const number = (n: number, digits: number) => new Intl.NumberFormat(usableLocale(locale), { maximumFractionDigits: digits }).format(n);
  if (ms < 1000) return `${number(Math.round(ms), 0)} ms`;
  if (ms < 60_000) return `${number(ms / 1000, 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A command line to read: arguments with spaces or quotes are single-quoted as a shell would need them. */
export function commandLine(command: string, args: readonly string[]): string {
  const quote = (a: string) => (a === '' || /[\s'"\\$`!*?;&|<>(){}]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a);
  return [command, ...args].map(quote).join(' ');
}

/** The progress texts of one stream, in order, each seq once. */
export function streamText(progress: readonly ProgressEntry[], stream: ProgressStream): string {
  const seen = new Set<number>();
  return [...progress]
    .sort((a, b) => a.seq - b.seq)
    .filter((p) => p.stream === stream && !seen.has(p.seq) && seen.add(p.seq))
    .map((p) => p.text)
    .join('');
}

/** What the agent's task loop reports (agent/task/task-loop.ts): "step 2: asking the model", "tool read_file {…} → done". */
const STEP_LINE = /^step (\d+): asking the model$/;
const TOKENS_LINE = /^step (\d+): the model used (\d+) tokens$/;
const TOOL_LINE = /^tool (\S+) (.*?) → (done|failed|refused \(([a-z-]+)\): ([\s\S]*))$/;

function sameParams(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

/**
 * An llm_task's steps from its progress, in order: the model's words (stdout), each tool call with what it came to
 * (status lines), and who approved a call a rule sent to review (the intent's approval requests, matched by tool and
 * arguments, else in order).
 */
export function taskSteps(progress: readonly ProgressEntry[], approvals: readonly ApprovalView[], nameOf: (did: string) => string | undefined): TaskStep[] {
  const steps: TaskStep[] = [];
  const current = () => {
    if (steps.length === 0) steps.push({ step: 1, texts: [], calls: [], tokens: null });
    return steps[steps.length - 1]!;
  };
  const unmatched = [...approvals].sort((a, b) => a.requestedAt - b.requestedAt);
  const reviewersOf = (tool: string, args: string): string[] => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(args);
    } catch {
      parsed = undefined;
    }
    const sameTool = unmatched.filter((a) => a.capability === tool);
    const match = sameTool.find((a) => parsed !== undefined && sameParams(a.params, parsed)) ?? (parsed === undefined ? sameTool[0] : undefined);
    if (!match) return [];
    unmatched.splice(unmatched.indexOf(match), 1);
    const reviewers = match.approvals.length > 0 ? match.approvals.map((a) => a.reviewer) : match.state === 'approved' && match.decidedBy ? [match.decidedBy] : [];
    return reviewers.map((did) => nameOf(did) ?? shortDid(did));
  };
  const seen = new Set<number>();
  for (const p of [...progress].sort((a, b) => a.seq - b.seq)) {
    if (seen.has(p.seq)) continue;
    seen.add(p.seq);
    if (p.stream === 'stdout') {
      const text = p.text.replace(/\n$/, '');
      if (text) current().texts.push(text);
      continue;
    }
    // Status texts of one stream may arrive joined in one notification: one line is one event.
    for (const line of p.text.split('\n')) {
      let m: RegExpMatchArray | null;
      if ((m = STEP_LINE.exec(line))) {
        const step = Number(m[1]);
        if (!steps.some((s) => s.step === step)) steps.push({ step, texts: [], calls: [], tokens: null });
      } else if ((m = TOKENS_LINE.exec(line))) {
        const step = steps.find((s) => s.step === Number(m![1])) ?? current();
        step.tokens = Number(m[2]);
      } else if ((m = TOOL_LINE.exec(line))) {
        const [, tool = '', args = '', outcome = '', reason, message] = m;
        const result = reason !== undefined ? sentence(`refused: ${message ?? reason.replace(/-/g, ' ')}`) : outcome;
        const call: TaskCall = { tool, args, result, approvedBy: reviewersOf(tool, args) };
        current().calls.push(call);
      }
    }
  }
  return steps;
}

export const shortDid = (did: string) => (did.length > 24 ? `${did.slice(0, 16)}…${did.slice(-4)}` : did);

/** The last part of a path, for a title. */
export const baseName = (path: string) => path.replace(/\/+$/, '').split('/').pop() || path;

/** The heading: what was asked, as the user would say it. */
export function resultTitle(intent: Pick<IntentSummary, 'capability' | 'params'>): string {
  const p = intent.params;
  switch (intent.capability) {
    case 'read_file':
    case 'list_files':
    case 'write_file':
      return `${intent.capability} ${str(p.path)}`;
    case 'run_command':
      return `run_command ${commandLine(str(p.command), Array.isArray(p.args) ? p.args.map(str) : [])}`;
    case 'http_fetch':
      return `http_fetch ${str(p.method)} ${str(p.url)}`;
    case 'llm_task':
      return `llm_task ${str(p.instruction).slice(0, 80)}`;
    default:
      return String(intent.capability);
  }
}

function body(inputs: ResultInputs, final: boolean): ResultBody {
  const { intent, progress, locale } = inputs;
  const p = intent.params;
  const output = intent.output ?? null;
  const raw = (): ResultBody => ({ kind: 'raw', text: JSON.stringify(output, null, 2) });
  // A call paused for a reviewer reads as such here too, as in the Activity row: not as an agent slow to start.
  const paused = !final && inputs.approvals.some((a) => a.state === 'pending');
  const waiting = (): ResultBody => ({
    kind: 'none',
    text: final ? 'There is no output.' : paused ? 'Paused on the agent: waiting for a reviewer (the Approvals view has the request)…' : intent.state === 'sent' ? 'Sent; waiting for the agent to start it…' : 'Running on the agent…',
  });
  switch (intent.capability) {
    case 'read_file': {
      if (!output) return waiting();
      const o = ReadFileOutput.safeParse(output);
      if (!o.success) return raw();
      return { kind: 'file', path: str(p.path), size: sizeText(o.data.bytes, locale), truncated: o.data.truncated, lineCount: o.data.content.split('\n').length, content: o.data.content };
    }
    case 'list_files': {
      if (!output) return waiting();
      const o = ListFilesOutput.safeParse(output);
      if (!o.success) return raw();
      const rows = o.data.entries.map((e) => ({ name: e.name, type: e.hardLinked ? `${e.type} (hard-linked)` : e.type, size: e.type === 'file' ? sizeText(e.size, locale) : '' }));
      return { kind: 'listing', path: str(p.path), rows, truncated: o.data.truncated };
    }
    case 'run_command': {
      const line = commandLine(str(p.command), Array.isArray(p.args) ? p.args.map(str) : []);
      const cwd = str(p.cwd);
      if (!output) {
        if (final && progress.length === 0) return waiting();
        // Live: what the command printed so far, stream by stream; the agent's own words (egress refusals) as notes.
        const notes = streamText(progress, 'status').split('\n').filter(Boolean);
        if (inputs.progressDropped) notes.unshift(DROPPED_NOTE);
        return { kind: 'command', commandLine: line, cwd, exit: null, duration: null, stdout: streamText(progress, 'stdout'), stderr: streamText(progress, 'stderr'), notes };
      }
      const o = RunCommandOutput.safeParse(output);
      if (!o.success) return raw();
      const r = o.data;
      const notes: string[] = [];
      if (r.timedOut) notes.push('It was stopped: it ran past its time limit.');
      if (r.aborted) notes.push('It was stopped on request.');
      if (r.limitMessage) notes.push(sentence(r.limitMessage));
      if (r.stdoutTruncated) notes.push('stdout was cut: the agent keeps at most 64 KiB of each stream.');
      if (r.stderrTruncated) notes.push('stderr was cut: the agent keeps at most 64 KiB of each stream.');
      const exit = r.exitCode !== null ? `exit code ${r.exitCode}` : r.signal ? `ended by signal ${r.signal}` : 'no exit code';
      return { kind: 'command', commandLine: line, cwd, exit, duration: durationText(r.durationMs, locale), stdout: r.stdout, stderr: r.stderr, notes };
    }
    case 'write_file': {
      if (!output) return waiting();
      const o = WriteFileOutput.safeParse(output);
      if (!o.success) return raw();
      return { kind: 'write', path: o.data.path, size: sizeText(o.data.bytesWritten, locale), mode: p.mode === 'create' ? 'created (it did not exist)' : 'overwritten (or created)' };
    }
    case 'http_fetch': {
      if (!output) return waiting();
      const o = HttpFetchOutput.safeParse(output);
      if (!o.success) return raw();
      const h = o.data;
      const notes: string[] = [];
      if (h.encoding === 'base64') notes.push(`The body is not UTF-8 text: shown as base64 (${sizeText(h.bodyBytes, locale)}).`);
      if (h.truncated) notes.push(`The body was cut at ${sizeText(h.bodyBytes, locale)}.`);
      if (h.durationMs !== undefined) notes.push(`Answered in ${durationText(h.durationMs, locale)}.`);
      return {
        kind: 'http',
        request: `${str(p.method)} ${str(p.url)}`,
        status: String(h.status),
        headers: Object.entries(h.headers).map(([name, value]) => ({ name, value })),
        body: h.body,
        notes,
      };
    }
    case 'llm_task': {
      const steps = taskSteps(progress, inputs.approvals, inputs.nameOf);
      const o = output ? TaskOutput.safeParse(output) : null;
      if (o && !o.success) return raw();
      const notes: string[] = inputs.progressDropped ? [DROPPED_NOTE] : [];
      if (final && steps.length === 0 && o?.data && o.data.steps > 0)
        notes.push(`${o.data.steps} step${o.data.steps === 1 ? '' : 's'} and ${o.data.toolCalls} tool call${o.data.toolCalls === 1 ? '' : 's'}: their details are shown while a task runs, and this window did not see it run.`);
      if (o?.data?.truncated) notes.push("The model's answer was cut at the task's output limit.");
      return { kind: 'task', instruction: str(p.instruction), steps, finalText: o?.data ? o.data.text : null, notes };
    }
    default:
      return output ? raw() : waiting();
  }
}

/** Everything the result view shows for one intent: a pure function of what the broker said and the clock. */
export function resultView(inputs: ResultInputs): ResultView {
  const { intent, nameOf, now, locale } = inputs;
  const final = FINAL_INTENT_STATES.includes(intent.state);
  const time = (at: number) => ({ at, local: localTime(at, locale), relative: relativeTime(at, now, locale) });
  const party = (did: string) => ({ did, name: nameOf(did) ?? shortDid(did) });
  return {
    intentId: intent.id,
    capability: intent.capability,
    title: resultTitle(intent),
    agent: party(intent.agent),
    requester: party(intent.user),
    ...(intent.via ? { origin: originName(intent.via) } : {}),
    state: intent.state,
    live: !final,
    problem: problemSentence(intent),
    created: time(intent.createdAt),
    updated: time(intent.updatedAt),
    locale: usableLocale(locale),
    body: body(inputs, final),
    signed: { intent: Boolean(intent.signedIntent), result: Boolean(intent.signedResult) },
    omitted: intent.omitted ?? [],
    verification: inputs.verification ?? null,
  };
}
