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

/** Request headers a caller may set; the agent sets Host, Content-Length and the connection headers itself. */
const HeaderName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, { message: 'a header name' }).refine((n) => !/^(host|content-length|connection|transfer-encoding|proxy-.*|upgrade|te|trailer|keep-alive)$/i.test(n), {
  message: 'set by the agent, not by the caller',
});

/**
 * One HTTP request the agent makes itself (no shell, no proxy): the URL's host must be in the certified
 * policy's allowedDomains; redirects are never followed (a 3xx is returned as it is).
 */
export const HttpFetchParams = z.strictObject({
  method: z.enum(['GET', 'POST', 'PUT', 'DELETE', 'HEAD']),
  url: Utf8Text(2048).refine((u) => /^https?:\/\//i.test(u) && URL.canParse(u), { message: 'an absolute http:// or https:// URL' }),
  headers: z.record(HeaderName, Utf8Text(1024)).refine((h) => Object.keys(h).length <= 32, { message: 'at most 32 headers' }).optional(),
  body: Utf8Text(BUDGETS.httpFetchRequestBytes.limit).optional(),
  timeoutMs: z.number().int().positive().max(BUDGETS.httpFetchMs.limit),
});

/** The tool named by an intent and its parameters, validated together. */
export const ToolCall = z.discriminatedUnion('capability', [
  z.strictObject({ capability: z.literal('read_file'), params: ReadFileParams }),
  z.strictObject({ capability: z.literal('list_files'), params: ListFilesParams }),
  z.strictObject({ capability: z.literal('write_file'), params: WriteFileParams }),
  z.strictObject({ capability: z.literal('run_command'), params: RunCommandParams }),
  z.strictObject({ capability: z.literal('http_fetch'), params: HttpFetchParams }),
]);
export type ToolCall = z.infer<typeof ToolCall>;
export type ToolName = ToolCall['capability'];
