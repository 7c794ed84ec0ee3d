import { z } from 'zod';

/*
 * The tools' outputs as the agent signs them (agent/tools/*), as their readers (the result view, `broker mcp`) parse
 * them. An agent is not trusted to keep to them: an output that does not parse is shown as JSON, never half-read.
 */
export const ReadFileOutput = z.object({ content: z.string(), bytes: z.number(), truncated: z.boolean() });
export const ListFilesOutput = z.object({
  entries: z.array(z.object({ name: z.string(), type: z.string(), size: z.number().nullable(), hardLinked: z.boolean().optional() })),
  truncated: z.boolean(),
});
export const RunCommandOutput = z.object({
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  timedOut: z.boolean(),
  aborted: z.boolean().optional(),
  limitMessage: z.string().nullable().optional(),
  durationMs: z.number(),
});
export const WriteFileOutput = z.object({ bytesWritten: z.number(), path: z.string() });
export const HttpFetchOutput = z.object({
  status: z.number(),
  headers: z.record(z.string(), z.string()),
  body: z.string(),
  encoding: z.enum(['utf8', 'base64']),
  bodyBytes: z.number(),
  truncated: z.boolean(),
  durationMs: z.number().optional(),
});
export const TaskOutput = z.object({ text: z.string(), truncated: z.boolean(), steps: z.number(), toolCalls: z.number() });
