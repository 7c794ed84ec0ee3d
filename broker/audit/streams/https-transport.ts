import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { BUDGETS } from '../../../core/budgets';
import { endpointName, postToEndpoint, type Endpoint } from '../../ops/endpoint-post';
import type { StreamedLine } from './log-reader';
import type { SendResult, StreamTransport } from './stream-transport';

/**
 * Batches POSTed to an HTTPS collector, the body NDJSON of the exact lines, taken on a 2xx answer: the collector
 * acknowledges what it stored. The token is only ever a header, never in a log line.
 */
export class HttpsTransport implements StreamTransport {
  readonly kind = 'https';
  readonly name: string;
  readonly #endpoint: Endpoint;
  readonly #headers: Record<string, string>;
  readonly #closing = new AbortController();
  readonly #agent: HttpAgent;

  constructor(
    target: { url: URL; ca?: Buffer; token?: string },
    private readonly deliveryMs: number = BUDGETS.endpointDeliveryMs.limit,
  ) {
    this.name = endpointName(target.url);
    const agentOptions = { keepAlive: true, maxSockets: 1, ...(target.ca ? { ca: target.ca } : {}) };
    this.#agent = target.url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.#endpoint = { url: target.url, agent: this.#agent, ...(target.ca ? { ca: target.ca } : {}) };
    this.#headers = { 'content-type': 'application/x-ndjson', ...(target.token ? { authorization: `Bearer ${target.token}` } : {}) };
  }

  async send(lines: readonly StreamedLine[]): Promise<SendResult> {
    const delivery = await postToEndpoint(this.#endpoint, Buffer.from(lines.map((l) => `${l.line}\n`).join(''), 'utf8'), this.#headers, this.deliveryMs, this.#closing.signal);
    return delivery.ok ? { ok: true } : { ok: false, error: delivery.error };
  }

  /** Cancels a delivery in flight: what it carried is sent again after a restart (at-least-once). */
  close(): void {
    this.#closing.abort();
    this.#agent.destroy();
  }
}
