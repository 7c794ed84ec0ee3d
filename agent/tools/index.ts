import { signableProblem } from '../../core/identity';
import type { ToolCall } from '../../core/wire/tools';
import { httpFetch } from './http-fetch';
import { listFiles } from './list-files';
import { readFile } from './read-file';
import { runCommand } from './run-command';
import { SandboxError } from './sandbox';
import { ToolFailure, type ToolContext, type ToolFailureReason, type ToolOutcome } from './types';
import { writeFile } from './write-file';

export { WorkspaceSandbox, SandboxError, type SandboxErrorCode } from './sandbox';
export { ToolFailure, type ProgressStream, type ToolContext, type ToolFailureReason, type ToolOutcome } from './types';
export type { ReadFileOutput } from './read-file';
export type { ListFilesOutput, ListedEntry } from './list-files';
export type { WriteFileOutput } from './write-file';
export type { RunCommandOutput } from './run-command';
export type { HttpFetchOutput } from './http-fetch';

/** The wire keeps results under 4 KiB of message (ResultBody.message). */
const MAX_MESSAGE_CHARS = 1024;

function dispatch(call: ToolCall, ctx: ToolContext): Promise<Record<string, unknown>> {
  switch (call.capability) {
    case 'read_file':
      return readFile(call.params, ctx);
    case 'list_files':
      return listFiles(call.params, ctx);
    case 'write_file':
      return writeFile(call.params, ctx);
    case 'run_command':
      return runCommand(call.params, ctx);
    case 'http_fetch':
      return httpFetch(call.params, ctx);
    default: {
      const unknownCall: never = call;
      throw new ToolFailure('bad-params', `unknown tool ${JSON.stringify((unknownCall as { capability: unknown }).capability)}`);
    }
  }
}

/** Reaching the agent's state or a file shared through a hard link is an escape like any other: audited as one. */
const ESCAPES: ReadonlySet<SandboxError['code']> = new Set(['path-escape', 'agent-state', 'hard-link']);

function reasonOf(err: SandboxError): ToolFailureReason {
  if (ESCAPES.has(err.code)) return 'path-escape';
  if (err.code === 'invalid-path') return 'bad-params';
  return 'failed';
}

function failureOf(capability: string, err: unknown): ToolOutcome & { ok: false } {
  if (err instanceof SandboxError) return { ok: false, reason: reasonOf(err), message: err.message.slice(0, MAX_MESSAGE_CHARS) };
  if (err instanceof ToolFailure) return { ok: false, reason: err.reason, message: err.message.slice(0, MAX_MESSAGE_CHARS) };
  // Only the errno: system messages carry absolute host paths, and results leave the machine.
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return { ok: false, reason: 'failed', message: `${capability} failed (${typeof code === 'string' ? code : 'internal error'})` };
}

/**
 * Runs one tool call, already parsed at the wire edge and cleared by the agent's gates, inside the
 * sandbox. Never throws: every refusal comes back as a reason the agent can sign and the broker audit.
 */
export async function runTool(call: ToolCall, ctx: ToolContext): Promise<ToolOutcome> {
  let output: Record<string, unknown>;
  try {
    output = await dispatch(call, ctx);
  } catch (err) {
    return failureOf(call.capability, err);
  }
  // The output is about to be signed: a float or undefined slipping in would break verification far from here.
  const problem = signableProblem(output);
  if (problem) return { ok: false, reason: 'failed', message: `${call.capability} produced an unsignable output (${problem})` };
  return { ok: true, output };
}
