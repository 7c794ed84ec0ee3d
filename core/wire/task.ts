import { z } from 'zod';
import { isUtcDay } from '../policy/utc-day';
import { HttpFetchParams, ListFilesParams, ReadFileParams, RunCommandParams, ToolCall, WriteFileParams } from './tools';

/** The tools a task's model may call: every tool an intent can name, never another task. */
export const TASK_TOOLS = ['read_file', 'list_files', 'write_file', 'run_command', 'http_fetch'] as const satisfies readonly ToolCall['capability'][];
export const TaskTool = z.enum(TASK_TOOLS);
export type TaskTool = z.infer<typeof TaskTool>;

/** The tools' parameter schemas, by name: what the model is told and what its arguments are checked against. */
export const TASK_TOOL_PARAMS = {
  read_file: ReadFileParams,
  list_files: ListFilesParams,
  write_file: WriteFileParams,
  run_command: RunCommandParams,
  http_fetch: HttpFetchParams,
} as const satisfies Record<TaskTool, z.ZodType>;

/** Absolute ceilings of the wire; each agent host sets its own, lower maxima (agent start --task-max-*). */
export const MAX_TASK_STEPS = 100;
export const MAX_TASK_TIME_MS = 60 * 60_000;
export const MAX_TASK_OUTPUT_CHARS = 64 * 1024;
export const MAX_TASK_INSTRUCTION_CHARS = 32 * 1024;

/**
 * An llm_task intent's parameters: the instruction for the agent host's
 * model, and optional limits the agent lowers to its own maxima. The tool
 * subset narrows what the certificate grants; it never widens it.
 */
export const TaskParams = z.strictObject({
  instruction: z.string().max(MAX_TASK_INSTRUCTION_CHARS).refine((s) => s.trim().length > 0, { message: 'the instruction is empty' }),
  tools: z.array(TaskTool).min(1).max(TASK_TOOLS.length).optional(),
  maxSteps: z.number().int().positive().max(MAX_TASK_STEPS).optional(),
  timeLimitMs: z.number().int().positive().max(MAX_TASK_TIME_MS).optional(),
  maxOutputChars: z.number().int().positive().max(MAX_TASK_OUTPUT_CHARS).optional(),
});
export type TaskParams = z.infer<typeof TaskParams>;

/** The tools a task may use: its subset, or every task tool. */
export const taskTools = (params: TaskParams): readonly TaskTool[] => params.tools ?? TASK_TOOLS;

/** What an intent names: one tool call, or a task whose model makes tool calls. Broker, agent and extension check params with it. */
export const IntentCall = z.discriminatedUnion('capability', [
  ...ToolCall.options,
  z.strictObject({ capability: z.literal('llm_task'), params: TaskParams }),
]);
export type IntentCall = z.infer<typeof IntentCall>;

/**
 * An intent's capability and params read as the call they name, or the bad-params refusal both the broker's
 * pre-check and the agent give: one reading, so the broker never signs what its agent would refuse.
 */
export function parseIntentCall(intent: { capability: string; params: unknown }): { ok: true; call: IntentCall } | { ok: false; reason: 'bad-params'; message: string } {
  const parsed = IntentCall.safeParse({ capability: intent.capability, params: intent.params });
  if (parsed.success) return { ok: true, call: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, reason: 'bad-params', message: `${issue?.path.join('.') || 'params'}: ${issue?.message ?? 'invalid'}` };
}

/**
 * Tokens one intent has used on one UTC day, cumulative: the agent signs it
 * in task progress and results, the broker keeps the largest figure it was
 * shown (so a replayed or reordered report never lowers or double-counts it).
 */
export const TokenUsageReport = z.strictObject({
  day: z.string().refine(isUtcDay, { message: 'not a UTC day (YYYY-MM-DD)' }),
  tokens: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});
export type TokenUsageReport = z.infer<typeof TokenUsageReport>;
