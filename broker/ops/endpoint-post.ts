import { request as requestHttp, type Agent as HttpAgent } from 'node:http';
import { request as requestHttps } from 'node:https';
import { BUDGETS } from '../../core/budgets';
import { isLoopback } from '../../core/wire/broker-url';

/** A destination the operator configured: an HTTPS audit collector or a webhook receiver. */
export interface Endpoint {
  url: URL;
  /** PEM CA(s) to trust instead of the system's (a collector on the team's own PKI). */
  ca?: Buffer;
  /**
   * A keep-alive agent (one socket) for a destination posted to many times a second (an audit stream): a fresh
   * TLS context and handshake per batch cost more CPU than the lines. Without it, one socket per delivery.
   */
  agent?: HttpAgent;
}

export type Delivery = { ok: true; status: number } | { ok: false; error: string; status?: number };

/**
 * Why the broker will not send to this URL, or null. Audit lines and notifications say who did what: plain
 * http:// is only for a receiver on this host. User name and password in the URL are refused (credentials
 * come from files), and the URL is never logged whole: a webhook URL's path is often its secret.
 */
export function endpointUrlProblem(url: URL): string | null {
  if (url.username || url.password) return 'the URL must not carry a user name or password; give credentials in a file';
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:') return isLoopback(url.hostname) ? null : `refusing plain http:// to ${url.hostname}, which is not a loopback address: use https://`;
  return `the URL must be https:// (or http:// to a loopback address), not ${url.protocol}//`;
}

/** How an endpoint appears in a log line or an error: its origin only. */
export function endpointName(url: URL): string {
  return url.origin;
}

/**
 * Posts one body and says how it went. Never throws and never hangs: the whole delivery is bounded by
 * endpointDeliveryMs and at most endpointResponseBytes of the answer are read (a hostile or broken receiver
 * that answers forever costs a socket for that long and no memory). 2xx is delivered; anything else is not.
 */
export async function postToEndpoint(
  endpoint: Endpoint,
  body: Buffer,
  headers: Record<string, string>,
  deliveryMs: number = BUDGETS.endpointDeliveryMs.limit,
  /** Ends the delivery at once, failed (a broker that stops does not wait out a hanging receiver). */
  signal?: AbortSignal,
): Promise<Delivery> {
  const deadline = Date.now() + deliveryMs;
  const first = await postOnce(endpoint, body, headers, deliveryMs, signal);
  // A kept-alive socket the receiver closed as this request went out on it, before any answer: it goes again at
  // once on a fresh socket, within the same delivery time (Node's documented way). The receiver may have read it
  // first, so only at-least-once destinations use an agent.
  if (!first.ok && first.reusedSocketLost && !signal?.aborted && Date.now() < deadline) {
    return postOnce(endpoint, body, headers, deadline - Date.now(), signal);
  }
  return first;
}

function postOnce(
  endpoint: Endpoint,
  body: Buffer,
  headers: Record<string, string>,
  deliveryMs: number,
  signal: AbortSignal | undefined,
): Promise<Delivery & { reusedSocketLost?: boolean }> {
  return new Promise((resolve) => {
    let settled = false;
    const send = endpoint.url.protocol === 'https:' ? requestHttps : requestHttp;
    const request = send(endpoint.url, {
      method: 'POST',
      headers: { 'content-length': String(body.length), ...headers },
      ...(endpoint.ca ? { ca: endpoint.ca } : {}),
      // Without a keep-alive agent, one socket per delivery. With one, a socket goes back to it only after a whole
      // 2xx answer within the budgets: any other end destroys it, so nothing half-read is ever reused.
      agent: endpoint.agent ?? false,
    });
    const settle = (delivery: Delivery & { reusedSocketLost?: boolean }, reusable = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', cancel);
      if (!reusable || !endpoint.agent) request.destroy();
      resolve(delivery);
    };
    const timer = setTimeout(() => settle({ ok: false, error: `no answer within ${deliveryMs} ms` }), deliveryMs);
    const cancel = () => settle({ ok: false, error: 'cancelled' });
    let answered = false;
    request.on('error', (err) => settle({ ok: false, error: err.message, ...(request.reusedSocket && !answered ? { reusedSocketLost: true } : {}) }));
    request.on('response', (response) => {
      answered = true;
      const status = response.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      const done = (whole: boolean) => settle(ok ? { ok: true, status } : { ok: false, status, error: `answered HTTP ${status}` }, whole && ok);
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > BUDGETS.endpointResponseBytes.limit) done(false);
      });
      response.on('end', () => done(true));
      response.on('error', (err) => settle({ ok: false, status, error: err.message }));
    });
    signal?.addEventListener('abort', cancel, { once: true });
    if (signal?.aborted) cancel();
    request.end(body);
  });
}

const FIRST_RETRY_MS = 500;

/**
 * The wait before the next attempt after `failures` failures in a row: exponential with full jitter, capped
 * by endpointBackoffMaxMs, so a fleet of brokers does not hammer a receiver that comes back.
 */
export function retryDelay(failures: number): number {
  const ceiling = Math.min(BUDGETS.endpointBackoffMaxMs.limit, FIRST_RETRY_MS * 2 ** Math.min(Math.max(failures - 1, 0), 16));
  return Math.round(FIRST_RETRY_MS / 2 + Math.random() * (ceiling - FIRST_RETRY_MS / 2));
}
