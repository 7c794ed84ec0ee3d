import type { GateVerdict } from '../../core/policy/intent-gates';
import type { RejectionReason } from '../../core/wire/intent';
import { TaskTool, type TaskParams } from '../../core/wire/task';
import { ModelCallError, type ChatCompletion, type ChatMessage, type ToolDefinition } from './chat-completions';
import type { TaskLimits } from './model-settings';
import { cancelledBy } from '../intent-cancel';

/** The most of one tool's answer the model is shown: a large file or log must not blow up every later prompt. */
export const MAX_TOOL_RESULT_CHARS = 16 * 1024;
/** Tool arguments as shown in progress lines. */
const ARGUMENTS_SHOWN = 300;

const SYSTEM_PROMPT =
  'You are an agent working in one workspace directory through the tools you are given. ' +
  'Paths are relative to the workspace root. A tool call may be refused by policy or by a reviewer: ' +
  'the refusal is the answer, do not retry the same call. When the task is done, answer with a short summary and no tool call.';

/** What one tool call the model asked for came to. */
export type ToolCallOutcome =
  | { status: 'done'; output: Record<string, unknown> }
  | { status: 'failed'; message: string }
  | { status: 'refused'; reason: RejectionReason; message: string };

/** What the loop needs from the agent: every gate, budget and side effect lives on that side. */
export interface TaskLoopHost {
  /** The gates a model call passes (certificate, expiry, token budget, delegation), on what holds now. */
  beforeModelCall(): GateVerdict;
  /** Completion tokens to ask for: what remains of the daily budget, at most the host's per-call maximum. */
  completionTokens(): number;
  chat(messages: ChatMessage[], maxTokens: number, signal: AbortSignal): Promise<ChatCompletion>;
  /** Counts a response's tokens toward the daily budget and reports them to the broker. */
  recordUsage(tokens: number, step: number): void;
  /** Every gate of a direct intent, then the sandboxed tool; never throws. */
  callTool(tool: TaskTool, args: Record<string, unknown>, signal: AbortSignal): Promise<ToolCallOutcome>;
  status(text: string): void;
  /** The model's own words, as they come. */
  text(text: string): void;
  tools: ToolDefinition[];
}

export interface TaskOutput extends Record<string, unknown> {
  text: string;
  truncated: boolean;
  steps: number;
  toolCalls: number;
}

export type TaskOutcome =
  | { outcome: 'succeeded'; message: string; output: TaskOutput }
  | { outcome: 'failed'; reason: RejectionReason | null; message: string; output: TaskOutput };

/** The host's ceilings, lowered to what the intent asked for. */
export function effectiveLimits(params: TaskParams, host: TaskLimits): TaskLimits {
  return {
    maxSteps: Math.min(params.maxSteps ?? host.maxSteps, host.maxSteps),
    timeLimitMs: Math.min(params.timeLimitMs ?? host.timeLimitMs, host.timeLimitMs),
    maxOutputChars: Math.min(params.maxOutputChars ?? host.maxOutputChars, host.maxOutputChars),
  };
}

const capped = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

/**
 * The tool-calling loop: ask the model, run (or refuse) the tools it calls,
 * give it their answers, until it answers without a tool call. Bounded by the
 * step limit, the wall clock (`deadline` aborts a model call or a tool in
 * flight) and the output cap; each model call first passes the gates again.
 */
export async function runTaskLoop(params: TaskParams, limits: TaskLimits, deadline: AbortSignal, host: TaskLoopHost): Promise<TaskOutcome> {
  const messages: ChatMessage[] = [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: params.instruction },
  ];
  let steps = 0;
  let toolCalls = 0;
  let lastText = '';
  const output = (): TaskOutput => {
    const text = lastText.slice(0, limits.maxOutputChars);
    return { text, truncated: text.length < lastText.length, steps, toolCalls };
  };
  const stop = (reason: RejectionReason | null, message: string): TaskOutcome => ({ outcome: 'failed', reason, message, output: output() });
  // `deadline` also carries the intent's cancel: a cancelled task says so, not that its time ran out.
  const timeUp = () => {
    const cancel = cancelledBy(deadline);
    return cancel ? stop('cancelled', `${cancel.message}; the task stopped after ${steps} step${steps === 1 ? '' : 's'}`) : stop('task-time-limit', `the task reached its time limit of ${Math.round(limits.timeLimitMs / 1000)} s`);
  };

  while (steps < limits.maxSteps) {
    if (deadline.aborted) return timeUp();
    const gate = host.beforeModelCall();
    if (!gate.ok) return stop(gate.reason, gate.message);
    steps++;
    host.status(`step ${steps}: asking the model`);
    let answer: ChatCompletion;
    try {
      answer = await host.chat(messages, host.completionTokens(), deadline);
    } catch (err) {
      if (err instanceof ModelCallError) return err.reason === 'task-time-limit' ? timeUp() : stop(err.reason, err.message);
      throw err;
    }
    host.recordUsage(answer.usage.total_tokens, steps);
    const message = answer.choices[0]!.message;
    const calls = message.tool_calls ?? [];
    if (message.content) {
      lastText = message.content;
      host.text(capped(message.content, limits.maxOutputChars));
    }
    if (calls.length === 0) return { outcome: 'succeeded', message: `done in ${steps} step${steps === 1 ? '' : 's'}`, output: output() };
    messages.push({ role: 'assistant', content: message.content ?? null, tool_calls: calls });
    for (const call of calls) {
      if (deadline.aborted) return timeUp();
      const result = await runOne(call.function.name, call.function.arguments, deadline, host);
      toolCalls++;
      host.status(`tool ${call.function.name} ${capped(call.function.arguments, ARGUMENTS_SHOWN)} → ${result.status === 'refused' ? `refused (${result.reason}): ${result.message}` : result.status}`);
      messages.push({ role: 'tool', tool_call_id: call.id, content: capped(JSON.stringify(result), MAX_TOOL_RESULT_CHARS) });
    }
  }
  return stop('task-step-limit', `the model was still calling tools after ${limits.maxSteps} steps`);
}

/** A call the model names: a known tool with a JSON object of arguments, or a refusal it is told about. */
async function runOne(name: string, rawArguments: string, deadline: AbortSignal, host: TaskLoopHost): Promise<ToolCallOutcome> {
  const tool = TaskTool.safeParse(name);
  if (!tool.success) return { status: 'refused', reason: 'capability-not-granted', message: `there is no tool named ${JSON.stringify(name.slice(0, 64))}` };
  let args: unknown;
  try {
    args = JSON.parse(rawArguments);
  } catch {
    return { status: 'refused', reason: 'bad-params', message: 'the arguments are not JSON' };
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return { status: 'refused', reason: 'bad-params', message: 'the arguments must be a JSON object' };
  return host.callTool(tool.data, args as Record<string, unknown>, deadline);
}
