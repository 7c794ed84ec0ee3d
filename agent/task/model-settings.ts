import { closeSync, fstatSync, openSync, readFileSync, realpathSync } from 'node:fs';
import { sep } from 'node:path';
import { positiveIntegerOption, secondsOption } from '../../core/cli/arguments';
import { MAX_TASK_OUTPUT_CHARS, MAX_TASK_STEPS, MAX_TASK_TIME_MS } from '../../core/wire/task';

/** The OpenAI-compatible endpoint an llm_task talks to. The key stays in this process: never logged, signed or sent to the broker. */
export interface ModelEndpoint {
  /** Up to, not including, /chat/completions (e.g. https://api.openai.com/v1). */
  baseUrl: string;
  model: string;
  apiKey: string | null;
  /** Completion tokens asked for per model call, lowered further to what remains of the daily budget. */
  maxCompletionTokens: number;
}

/** This host's ceilings for any task; an intent may ask for less, never more. */
export interface TaskLimits {
  maxSteps: number;
  timeLimitMs: number;
  maxOutputChars: number;
}

export interface ModelSettings {
  endpoint: ModelEndpoint;
  limits: TaskLimits;
}

/** `agent start` options for tasks, as commander gives them. */
export interface ModelOptions {
  modelUrl?: string;
  model?: string;
  modelKeyEnv?: string;
  modelKeyFile?: string;
  modelMaxTokens: string;
  taskMaxSteps: string;
  taskMaxSeconds: string;
  taskMaxOutput: string;
}

export const MODEL_OPTION_DEFAULTS = { modelMaxTokens: '4096', taskMaxSteps: '20', taskMaxSeconds: '600', taskMaxOutput: '16384' } as const;

/** undefined when no model is configured: the agent then cannot take llm_task. */
export function modelSettingsFrom(o: ModelOptions, workspace: string, env: NodeJS.ProcessEnv = process.env): ModelSettings | undefined {
  if (!o.modelUrl) {
    if (o.model || o.modelKeyEnv || o.modelKeyFile) throw new Error('--model, --model-key-env and --model-key-file need --model-url');
    return undefined;
  }
  if (!o.model) throw new Error('--model-url needs --model (the model name the endpoint serves)');
  const limits: TaskLimits = {
    maxSteps: Math.min(positiveIntegerOption(o.taskMaxSteps, '--task-max-steps'), MAX_TASK_STEPS),
    timeLimitMs: Math.min(secondsOption(o.taskMaxSeconds, '--task-max-seconds'), MAX_TASK_TIME_MS),
    maxOutputChars: Math.min(positiveIntegerOption(o.taskMaxOutput, '--task-max-output'), MAX_TASK_OUTPUT_CHARS),
  };
  return {
    endpoint: {
      baseUrl: checkBaseUrl(o.modelUrl),
      model: o.model,
      apiKey: readModelKey(o, workspace, env),
      maxCompletionTokens: positiveIntegerOption(o.modelMaxTokens, '--model-max-tokens'),
    },
    limits,
  };
}

function checkBaseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`--model-url "${text}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('--model-url must be an http or https URL');
  // A key in the URL would travel in every log line and error message that prints it.
  if (url.username || url.password) throw new Error('--model-url must not carry credentials: give the key with --model-key-file or --model-key-env');
  return url.href.replace(/\/+$/, '');
}

/**
 * The API key, from an environment variable or a file only its owner can
 * read. A key file inside the workspace is refused: the model's own read_file
 * could hand it to whoever reads the task's output.
 */
function readModelKey(o: ModelOptions, workspace: string, env: NodeJS.ProcessEnv): string | null {
  if (o.modelKeyEnv && o.modelKeyFile) throw new Error('give the model key with --model-key-env or --model-key-file, not both');
  if (o.modelKeyEnv) {
    const key = env[o.modelKeyEnv]?.trim();
    if (!key) throw new Error(`--model-key-env ${o.modelKeyEnv}: that environment variable is empty or unset`);
    return key;
  }
  if (!o.modelKeyFile) return null;
  const path = o.modelKeyFile;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new Error(`--model-key-file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'cannot be opened'}`);
  }
  try {
    // Checked on the open file, so the file read is the file checked.
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`--model-key-file ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new Error(`--model-key-file ${path} can be read by others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${path}`);
    }
    const real = realpathSync(path);
    const root = realpathSync(workspace);
    if (real === root || real.startsWith(root + sep)) throw new Error(`--model-key-file ${path} is inside the workspace, where the agent's tools can read it; keep it outside`);
    const key = readFileSync(fd, 'utf8').trim();
    if (!key) throw new Error(`--model-key-file ${path} is empty`);
    return key;
  } finally {
    closeSync(fd);
  }
}
