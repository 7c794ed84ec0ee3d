import { z } from 'zod';

/** Paths are relative to the agent's workspace root; the agent resolves and confines them (agent/tools/sandbox). */
const WorkspacePath = z.string().min(1).max(4096);
export const MAX_WRITE_BYTES = 1024 * 1024;
export const MAX_COMMAND_TIMEOUT_MS = 10 * 60_000;

export const ReadFileParams = z.strictObject({ path: WorkspacePath });
export const ListFilesParams = z.strictObject({ path: WorkspacePath });
export const WriteFileParams = z.strictObject({
  path: WorkspacePath,
  content: z.string().max(MAX_WRITE_BYTES),
  /** create: fail if the file exists; overwrite: replace it. */
  mode: z.enum(['create', 'overwrite']),
});
export const RunCommandParams = z.strictObject({
  command: z.string().min(1).max(1024),
  args: z.array(z.string().max(8192)).max(256),
  /** Working directory, relative to the workspace root. */
  cwd: WorkspacePath,
  timeoutMs: z.number().int().positive().max(MAX_COMMAND_TIMEOUT_MS),
});

/** The tool named by an intent and its parameters, validated together. */
export const ToolCall = z.discriminatedUnion('capability', [
  z.strictObject({ capability: z.literal('read_file'), params: ReadFileParams }),
  z.strictObject({ capability: z.literal('list_files'), params: ListFilesParams }),
  z.strictObject({ capability: z.literal('write_file'), params: WriteFileParams }),
  z.strictObject({ capability: z.literal('run_command'), params: RunCommandParams }),
]);
export type ToolCall = z.infer<typeof ToolCall>;
export type ToolName = ToolCall['capability'];
