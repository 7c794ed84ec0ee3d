import { z } from 'zod';
import { TASK_TOOL_PARAMS, type TaskTool } from '../../core/wire/task';
import type { ToolDefinition } from './chat-completions';

const DESCRIPTIONS: Record<TaskTool, string> = {
  read_file: 'Read a UTF-8 text file; the path is relative to the workspace root.',
  list_files: 'List a directory of the workspace; the path is relative to the workspace root ("." for the root).',
  write_file: 'Write a text file in the workspace. mode "create" fails if it exists; "overwrite" replaces it.',
  run_command: 'Run a program without a shell, in a directory of the workspace, with a timeout in milliseconds.',
  http_fetch: 'Make one HTTP request to a host the policy allows (allowedDomains); redirects are returned, not followed.',
};

/**
 * The function definitions the model is offered, generated from the same zod
 * schemas its arguments are then checked against, so the two cannot drift.
 */
export function toolDefinitions(tools: readonly TaskTool[]): ToolDefinition[] {
  return tools.map((name) => {
    const { $schema: _ignored, ...parameters } = z.toJSONSchema(TASK_TOOL_PARAMS[name], { io: 'input' });
    return { type: 'function', function: { name, description: DESCRIPTIONS[name], parameters } };
  });
}
