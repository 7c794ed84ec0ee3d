import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A stand-in for an OpenAI-compatible chat-completions endpoint on 127.0.0.1
 * (the one part of a task that cannot exist here): it plays a recorded
 * conversation, one scripted answer per request, and records every request as
 * it arrived, headers included. A request past the end of the script gets a 500.
 */
export type ScriptedAnswer =
  | { kind: 'json'; body: unknown }
  | { kind: 'raw'; status: number; text: string }
  /** Never answers: the agent's own deadline has to end the call. */
  | { kind: 'hang' };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: ChatRequest;
  /** The client went away before an answer was written. */
  abandoned: boolean;
}

/** What the agent sends, as far as the tests read it. */
export interface ChatRequest {
  model: string;
  max_tokens: number;
  tools: { type: string; function: { name: string; parameters: Record<string, unknown> } }[];
  messages: { role: string; content: string | null; tool_call_id?: string; tool_calls?: { id: string; function: { name: string; arguments: string } }[] }[];
}

export class ScriptedModel {
  readonly requests: RecordedRequest[] = [];
  #script: ScriptedAnswer[] = [];

  private constructor(
    private readonly server: Server,
    /** The base URL to give `agent start --model-url`. */
    readonly url: string,
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(): Promise<ScriptedModel> {
    let model: ScriptedModel | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => model!.#answer(req.method ?? '', req.url ?? '', req.headers, Buffer.concat(chunks).toString('utf8'), res));
    });
    const sockets = new Set<Socket>();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address() as AddressInfo;
    model = new ScriptedModel(server, `http://127.0.0.1:${port}/v1`, sockets);
    return model;
  }

  /** The answers to the next requests, in order; replaces what was left of the previous script. */
  play(answers: ScriptedAnswer[]): void {
    this.#script = [...answers];
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #answer(method: string, path: string, headers: IncomingHttpHeaders, raw: string, res: ServerResponse): void {
    let body: ChatRequest;
    try {
      body = JSON.parse(raw) as ChatRequest;
    } catch {
      body = { model: '', max_tokens: 0, tools: [], messages: [] };
    }
    const recorded: RecordedRequest = { method, path, headers, raw, body, abandoned: false };
    this.requests.push(recorded);
    res.on('close', () => {
      if (!res.writableFinished) recorded.abandoned = true;
    });
    const answer = path === '/v1/chat/completions' && method === 'POST' ? this.#script.shift() : { kind: 'raw' as const, status: 404, text: 'not found' };
    if (!answer) return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"the script is over"}}');
    if (answer.kind === 'hang') return;
    if (answer.kind === 'raw') return void res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.text);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
  }
}

let callSeq = 0;

/** A chat completion as OpenAI-compatible servers record it: the assistant's message and the tokens it cost. */
function completion(message: Record<string, unknown>, tokens: number, finishReason: string): ScriptedAnswer {
  const prompt = Math.floor(tokens * 0.75);
  return {
    kind: 'json',
    body: {
      id: `chatcmpl-${++callSeq}`,
      object: 'chat.completion',
      created: 1_764_000_000,
      model: 'scripted-model',
      choices: [{ index: 0, message: { role: 'assistant', ...message }, logprobs: null, finish_reason: finishReason }],
      usage: { prompt_tokens: prompt, completion_tokens: tokens - prompt, total_tokens: tokens },
      system_fingerprint: 'fp_scripted',
    },
  };
}

/** The model calls tools (arguments as the JSON text models send). */
export function callsTools(calls: { name: string; args: unknown }[], tokens: number, content: string | null = null): ScriptedAnswer {
  return completion(
    {
      content,
      tool_calls: calls.map((c) => ({ id: `call_${++callSeq}`, type: 'function', function: { name: c.name, arguments: typeof c.args === 'string' ? c.args : JSON.stringify(c.args) } })),
    },
    tokens,
    'tool_calls',
  );
}

/** The model's final answer. */
export function answers(text: string, tokens: number): ScriptedAnswer {
  return completion({ content: text }, tokens, 'stop');
}

/** The tool messages the agent sent back in a request, parsed. */
export function toolResults(request: RecordedRequest): Record<string, unknown>[] {
  return request.body.messages.filter((m) => m.role === 'tool').map((m) => JSON.parse(m.content ?? 'null') as Record<string, unknown>);
}
