import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { NOTIFY_DELIVERY_HEADER, NOTIFY_SIGNATURE_HEADER } from '../../core/ops/notification-signature';

/** One request a webhook receiver got, as received: the raw body bytes are what the signature covers. */
export interface ReceivedNotification {
  deliveryId: string | undefined;
  signature: string | undefined;
  body: Buffer;
  /** What the receiver answered (null: it never did). */
  status: number | null;
}

export interface WebhookReceiver {
  url: URL;
  received: ReceivedNotification[];
  /** The status of each request as it comes (null: hold it unanswered), changeable while it runs. */
  answer: (n: number) => number | null;
  close(): Promise<void>;
}

/**
 * A webhook receiver on 127.0.0.1 (an OS-picked port) that records every request: HTTPS with `tls` (makeTestPki's
 * server certificate), loopback HTTP without. The URL has a path, as a real webhook URL's secret path.
 */
export async function startWebhookReceiver(tls?: { cert: string; key: string }): Promise<WebhookReceiver> {
  const receiver = { received: [] as ReceivedNotification[], answer: (() => 204) as WebhookReceiver['answer'] };
  const onRequest = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const one: ReceivedNotification = {
        deliveryId: request.headers[NOTIFY_DELIVERY_HEADER] as string | undefined,
        signature: request.headers[NOTIFY_SIGNATURE_HEADER] as string | undefined,
        body: Buffer.concat(chunks),
        status: null,
      };
      receiver.received.push(one);
      one.status = receiver.answer(receiver.received.length);
      if (one.status !== null) response.writeHead(one.status).end();
    });
  };
  const server: Server = tls ? createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, onRequest) : createHttpServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(receiver, {
    url: new URL(`${tls ? 'https' : 'http'}://127.0.0.1:${port}/hooks/T0000/secret-path-${port}`),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}
