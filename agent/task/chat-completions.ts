import { z } from 'zod';
import type { RejectionReason } from '../../core/wire/intent';
import type { ModelEndpoint } from './model-settings';

/** A model response larger than this is refused unread: an endpoint cannot make the agent buffer without bound. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

const ModelToolCall = z.object({
  id: z.string().min(1).max(256),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1).max(256), arguments: z.string().max(MAX_RESPONSE_BYTES) }),
});
export type ModelToolCall = z.infer<typeof ModelToolCall>;

/**
 * The part of an OpenAI-compatible chat completion the loop reads. Usage is
 * required: a response whose tokens cannot be counted against the daily
 * budget is refused, not let through uncounted.
 */
export const ChatCompletion = z.object({
  choices: z
    .array(
      z.object({
        message: z.object({
          role: z.literal('assistant'),
          content: z.string().nullish(),
          tool_calls: z.array(ModelToolCall).max(64).nullish(),
        }),
      }),
    )
    .min(1),
  usage: z.object({
    prompt_tokens: z.number().int().nonnegative(),
    completion_tokens: z.number().int().nonnegative(),
    total_tokens: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  }),
});
export type ChatCompletion = z.infer<typeof ChatCompletion>;

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ModelToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ToolDefinition {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export type ModelFailureReason = Extract<RejectionReason, 'model-unavailable' | 'model-malformed-response' | 'task-time-limit'>;

/** Why a model call gave no usable answer. Messages name no header, body or key: they end up in signed results. */
export class ModelCallError extends Error {
  constructor(
    readonly reason: ModelFailureReason,
    message: string,
  ) {
    super(message);
    this.name = 'ModelCallError';
  }
}

/**
 * One non-streaming POST to {baseUrl}/chat/completions, aborted by `signal`
 * (the task's deadline), its answer validated before anything reads it.
 */
export async function requestChatCompletion(
  endpoint: ModelEndpoint,
  request: { messages: ChatMessage[]; tools: ToolDefinition[]; maxTokens: number },
  signal: AbortSignal,
): Promise<ChatCompletion> {
  const timedOut = () => new ModelCallError('task-time-limit', 'the task reached its time limit while waiting for the model');
  let response: Response;
  try {
    response = await fetch(`${endpoint.baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : {}) },
      body: JSON.stringify({ model: endpoint.model, messages: request.messages, tools: request.tools, tool_choice: 'auto', max_tokens: request.maxTokens }),
      // A redirect could carry the key's header to another host.
      redirect: 'error',
      signal,
    });
  } catch (err) {
    if (signal.aborted) throw timedOut();
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    throw new ModelCallError('model-unavailable', `the model endpoint could not be reached (${typeof code === 'string' ? code : 'network error'})`);
  }
  let text: string;
  try {
    if (!response.ok) {
      await response.body?.cancel();
      // Only the status: an error body may echo the request, key header included.
      throw new ModelCallError('model-unavailable', `the model endpoint answered HTTP ${response.status}`);
    }
    text = await readCapped(response);
  } catch (err) {
    if (err instanceof ModelCallError) throw err;
    if (signal.aborted) throw timedOut();
    throw new ModelCallError('model-unavailable', 'the model endpoint closed the connection mid-answer');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ModelCallError('model-malformed-response', 'the model endpoint answered with something that is not JSON');
  }
  const parsed = ChatCompletion.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ModelCallError('model-malformed-response', `the model answer is not a chat completion (${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'})`);
  }
  return parsed.data;
}

async function readCapped(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new ModelCallError('model-malformed-response', `the model answer is larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
