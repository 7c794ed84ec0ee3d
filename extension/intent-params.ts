import { IntentCall, TASK_TOOLS, TaskTool } from '../core/wire/task';
import type { Capability } from '../core/wire/policy';
import { HttpFetchParams } from '../core/wire/tools';
import { BUDGETS } from '../core/budgets';

/** One parameter the Dispatch Intent command asks for, in order. */
export interface ParamField {
  name: string;
  prompt: string;
  placeholder?: string;
  defaultValue?: string;
  /** A fixed set of answers: shown as a quick pick instead of an input box. */
  choices?: readonly string[];
  /** For write_file content and task instructions: typed in a new editor, or taken from a chosen open file (extension/commands/content-source.ts). */
  multiline?: boolean;
}

export const PARAM_FIELDS: Record<Capability, readonly ParamField[]> = {
  read_file: [{ name: 'path', prompt: 'File to read, relative to the agent\'s workspace', placeholder: 'README.md' }],
  list_files: [{ name: 'path', prompt: 'Directory to list, relative to the agent\'s workspace', defaultValue: '.' }],
  write_file: [
    { name: 'path', prompt: 'File to write, relative to the agent\'s workspace', placeholder: 'notes.txt' },
    { name: 'content', prompt: 'Content to write', multiline: true },
    { name: 'mode', prompt: 'If the file exists', choices: ['create', 'overwrite'] },
  ],
  run_command: [
    { name: 'command', prompt: 'Command to run (no shell)', placeholder: 'ls' },
    { name: 'args', prompt: 'Arguments: a JSON array, or words separated by spaces', placeholder: '["-la"]', defaultValue: '' },
    { name: 'cwd', prompt: 'Working directory, relative to the workspace', defaultValue: '.' },
    { name: 'timeoutSeconds', prompt: 'Timeout in seconds', defaultValue: '30' },
  ],
  http_fetch: [
    { name: 'method', prompt: 'HTTP method', choices: ['GET', 'POST', 'PUT', 'DELETE', 'HEAD'] },
    { name: 'url', prompt: "URL (its host must be in the agent's allowed domains)", placeholder: 'https://registry.npmjs.org/zod' },
    { name: 'body', prompt: 'Request body (empty: none)', defaultValue: '' },
    { name: 'timeoutSeconds', prompt: 'Timeout in seconds', defaultValue: '30' },
  ],
  llm_task: [
    { name: 'instruction', prompt: 'What the agent\'s model should do', placeholder: 'Summarise README.md into NOTES.md', multiline: true },
    { name: 'tools', prompt: `Tools the model may call, comma-separated (empty: ${TASK_TOOLS.join(', ')}, as far as the agent is granted them)`, defaultValue: '' },
    { name: 'maxSteps', prompt: 'Most model calls (empty: the agent host\'s maximum)', defaultValue: '' },
  ],
};

/** Arguments as typed: a JSON array of strings, or words separated by white space. */
export function parseArgs(text: string): string[] {
  const t = text.trim();
  if (!t) return [];
  if (t.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch {
      throw new Error('arguments start with "[" but are not a JSON array');
    }
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error('arguments must be a JSON array of strings');
    return parsed;
  }
  return t.split(/\s+/);
}

const splitList = (text: string) => text.split(',').map((t) => t.trim()).filter(Boolean);

/**
 * Turns the answers into an intent's params, checked against the same
 * schema the broker and the agent use, so a mistake is caught before anything
 * is signed. Returns the first problem in words.
 */
export function buildParams(capability: Capability, answers: Record<string, string>): { ok: true; params: Record<string, unknown> } | { ok: false; problem: string } {
  let params: Record<string, unknown>;
  try {
    switch (capability) {
      case 'read_file':
      case 'list_files':
        params = { path: answers.path ?? '' };
        break;
      case 'write_file':
        params = { path: answers.path ?? '', content: answers.content ?? '', mode: answers.mode ?? 'create' };
        break;
      case 'run_command': {
        const seconds = Number(answers.timeoutSeconds ?? '30');
        if (!Number.isFinite(seconds) || seconds <= 0) return { ok: false, problem: 'the timeout must be a positive number of seconds' };
        params = { command: answers.command ?? '', args: parseArgs(answers.args ?? ''), cwd: answers.cwd || '.', timeoutMs: Math.round(seconds * 1000) };
        break;
      }
      case 'http_fetch': {
        const seconds = Number(answers.timeoutSeconds ?? '30');
        if (!Number.isFinite(seconds) || seconds <= 0) return { ok: false, problem: 'the timeout must be a positive number of seconds' };
        const body = answers.body ?? '';
        params = { method: answers.method ?? 'GET', url: answers.url ?? '', ...(body ? { body } : {}), timeoutMs: Math.round(seconds * 1000) };
        break;
      }
      case 'llm_task': {
        const tools = splitList(answers.tools ?? '');
        const maxSteps = (answers.maxSteps ?? '').trim();
        params = { instruction: answers.instruction ?? '', ...(tools.length ? { tools } : {}), ...(maxSteps ? { maxSteps: Number(maxSteps) } : {}) };
        break;
      }
    }
  } catch (err) {
    return { ok: false, problem: (err as Error).message };
  }
  const checked = IntentCall.safeParse({ capability, params });
  if (!checked.success) {
    const issue = checked.error.issues[0];
    return { ok: false, problem: `${issue?.path.slice(1).join('.') || 'params'}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, params: checked.data.params as Record<string, unknown> };
}

/** Check one answer as it is typed (input box validateInput); undefined when fine. */
export function checkAnswer(capability: Capability, field: string, value: string): string | undefined {
  if (field === 'args') {
    try {
      parseArgs(value);
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  }
  if (field === 'timeoutSeconds') {
    const n = Number(value);
    if (!(Number.isFinite(n) && n > 0)) return 'a positive number of seconds';
    // The schema's bound, said while typing rather than as a refusal after the last question.
    const max = capability === 'http_fetch' ? BUDGETS.httpFetchMs.limit / 1000 : undefined;
    return max !== undefined && n > max ? `at most ${max} seconds` : undefined;
  }
  if (field === 'url') return HttpFetchParams.shape.url.safeParse(value).success ? undefined : 'an absolute http:// or https:// URL';
  if (field === 'tools') {
    const unknown = splitList(value).filter((t) => !TaskTool.safeParse(t).success);
    return unknown.length ? `not a task tool: ${unknown.join(', ')} (choose among ${TASK_TOOLS.join(', ')})` : undefined;
  }
  if (field === 'maxSteps') return !value.trim() || (Number.isSafeInteger(Number(value)) && Number(value) > 0) ? undefined : 'a positive whole number, or empty';
  if (field === 'instruction' && !value.trim()) return 'the task needs an instruction';
  if ((field === 'path' || field === 'command') && !value.trim()) return `${capability} needs a ${field}`;
  return undefined;
}

/** An open editor tab, as the content picker sees it. */
export interface OpenDocument {
  uri: string;
  scheme: string;
  languageId: string;
  /** What the picker shows: the file's path, or the untitled tab's title. */
  label: string;
}

/**
 * The open documents offered as the content of a write: files on disk and untitled text the user typed. Never what the
 * extension itself shows (intents, results, envelopes: schemes vaultysclaw-*, and the untitled JSON tabs results open):
 * one Enter must not write the previous result's JSON to the agent.
 */
export function contentSources(docs: readonly OpenDocument[]): OpenDocument[] {
  const seen = new Set<string>();
  return docs.filter((d) => {
    if (seen.has(d.uri)) return false;
    seen.add(d.uri);
    if (d.scheme.startsWith('vaultysclaw')) return false;
    if (d.scheme === 'untitled') return d.languageId !== 'json';
    return d.scheme === 'file';
  });
}
