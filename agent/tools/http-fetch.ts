import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BUDGETS } from '../../core/budgets';
import { checkDestination, DestinationRefused, DestinationUnresolved, pinnedLookup } from '../egress/destination-check';
import { ToolFailure, type ToolContext, type ToolParams } from './types';
import { utf8Boundary } from './utf8';

/** Response headers a caller needs to use an answer (a redirect's Location among them); the rest stay on the agent. */
const KEPT_HEADERS = ['content-type', 'content-length', 'content-encoding', 'location', 'etag', 'last-modified', 'cache-control', 'retry-after', 'www-authenticate'] as const;
const MAX_HEADER_CHARS = 1024;

export type HttpFetchOutput = {
  status: number;
  headers: Record<string, string>;
  /** UTF-8 text when the kept bytes are valid UTF-8, else their base64. */
  body: string;
  encoding: 'utf8' | 'base64';
  /** Body bytes kept (at most BUDGETS.httpFetchResponseBytes). */
  bodyBytes: number;
  /** The server sent more than was kept. */
  truncated: boolean;
  durationMs: number;
};

function keptHeaders(response: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = response.headers[name];
    if (value !== undefined) out[name] = (Array.isArray(value) ? value.join(', ') : value).slice(0, MAX_HEADER_CHARS);
  }
  return out;
}

/** The body as signable text: UTF-8 cut on a character boundary when it is text, base64 of the kept bytes when not. */
function bodyOf(received: Buffer, max: number): Pick<HttpFetchOutput, 'body' | 'encoding' | 'bodyBytes' | 'truncated'> {
  const truncated = received.length > max;
  const cut = utf8Boundary(received, max);
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(received.subarray(0, cut));
    return { body: text, encoding: 'utf8', bodyBytes: cut, truncated };
  } catch {
    const kept = received.subarray(0, Math.min(received.length, max));
    return { body: kept.toString('base64'), encoding: 'base64', bodyBytes: kept.length, truncated };
  }
}

/**
 * One HTTP request made by the agent itself (no shell, no proxy) to a host the certified policy's allowedDomains
 * names, connected to the addresses the destination check accepted. Redirects are answers, never followed: a
 * 3xx comes back with its Location, so an allowed host cannot send the agent to one that is not. The response
 * body is kept up to BUDGETS.httpFetchResponseBytes (one byte more is read to tell an exact fit from a cut), and
 * the whole exchange ends within the call's timeoutMs (at most BUDGETS.httpFetchMs) or the intent's own deadline.
 */
export async function httpFetch(params: ToolParams<'http_fetch'>, ctx: ToolContext): Promise<HttpFetchOutput> {
  const url = new URL(params.url);
  const https = url.protocol === 'https:';
  const port = Number(url.port || (https ? 443 : 80));
  const body = params.body === undefined ? undefined : Buffer.from(params.body, 'utf8');
  if (body && body.length > BUDGETS.httpFetchRequestBytes.limit) throw new ToolFailure('bad-params', `the request body is over ${BUDGETS.httpFetchRequestBytes.limit} bytes`);
  if (body && (params.method === 'GET' || params.method === 'HEAD')) throw new ToolFailure('bad-params', `a ${params.method} request carries no body`);
  let destination;
  try {
    destination = await checkDestination(url.hostname, port, { policy: ctx.policy, host: ctx.host });
  } catch (err) {
    if (err instanceof DestinationRefused) throw new ToolFailure('destination-refused', err.message);
    if (err instanceof DestinationUnresolved) throw new ToolFailure('failed', err.message);
    throw err;
  }
  const timeoutMs = Math.min(params.timeoutMs, BUDGETS.httpFetchMs.limit);
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([ctx.signal, deadline]);
  const started = performance.now();
  const max = BUDGETS.httpFetchResponseBytes.limit;

  return new Promise<HttpFetchOutput>((resolve, reject) => {
    const fail = (err: unknown) => {
      if (deadline.aborted) reject(new ToolFailure('failed', `http_fetch timed out after ${timeoutMs} ms`));
      else if (ctx.signal.aborted) reject(new ToolFailure('failed', 'http_fetch was cancelled'));
      else reject(new ToolFailure('failed', `http_fetch to ${destination.host} failed (${(err as NodeJS.ErrnoException).code ?? 'error'})`));
    };
    const request = (https ? httpsRequest : httpRequest)({
      host: destination.host,
      port,
      lookup: pinnedLookup(destination),
      method: params.method,
      path: `${url.pathname}${url.search}`,
      headers: {
        'user-agent': 'vaultysclaw-agent',
        ...params.headers,
        host: url.host,
        ...(body ? { 'content-length': String(body.length) } : {}),
      },
      auth: url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
      agent: false,
      signal,
    });
    request.on('error', fail);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let received = 0;
      const done = () => {
        const all = Buffer.concat(chunks);
        resolve({ status: response.statusCode ?? 0, headers: keptHeaders(response), ...bodyOf(all, max), durationMs: Math.round(performance.now() - started) });
      };
      response.on('data', (chunk: Buffer) => {
        if (received > max) return;
        chunks.push(chunk);
        received += chunk.length;
        // One byte past the bound is proof enough of a cut: stop reading, the rest is never buffered.
        if (received > max) {
          response.removeAllListeners('end');
          request.destroy();
          done();
        }
      });
      response.on('end', done);
      response.on('error', (err) => {
        if (received <= max) fail(err);
      });
    });
    request.end(body);
  });
}
