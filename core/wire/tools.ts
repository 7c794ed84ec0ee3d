import { z } from 'zod';
import { BUDGETS } from '../budgets';
import { Utf8Text } from './common';

/** Paths are relative to the agent's workspace root; the agent resolves and confines them (agent/tools/sandbox). PATH_MAX counts bytes. */
const WorkspacePath = Utf8Text(4096).min(1);
export const MAX_WRITE_BYTES = BUDGETS.writeFileBytes.limit;
export const MAX_COMMAND_TIMEOUT_MS = 10 * 60_000;

export const ReadFileParams = z.strictObject({ path: WorkspacePath });
export const ListFilesParams = z.strictObject({ path: WorkspacePath });
export const WriteFileParams = z.strictObject({
  path: WorkspacePath,
  content: Utf8Text(MAX_WRITE_BYTES),
  /** create: fail if the file exists; overwrite: replace it. */
  mode: z.enum(['create', 'overwrite']),
});
export const RunCommandParams = z.strictObject({
  command: Utf8Text(1024).min(1),
  args: z.array(Utf8Text(8192)).max(256),
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
