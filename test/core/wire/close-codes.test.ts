import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { CloseCode } from '../../../core/wire/close-codes';

test('each close code means one thing: no two names share a number', () => {
  const codes = Object.values(CloseCode);
  assert.equal(new Set(codes).size, codes.length);
});

test('our own codes are in the application range (4000-4999), the rest are the RFC 6455 ones we mean', () => {
  const rfc: Record<string, number> = { Normal: 1000, GoingAway: 1001, InternalError: 1011 };
  for (const [name, code] of Object.entries(CloseCode)) {
    if (name in rfc) assert.equal(code, rfc[name], name);
    else assert.ok(code >= 4000 && code <= 4999, `${name} = ${code} is outside the application range`);
  }
});

test('every code crosses a real WebSocket to the peer unchanged', async () => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  after(() => server.close());
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  for (const [name, code] of Object.entries(CloseCode)) {
    const accepted = once(server, 'connection') as Promise<[WebSocket]>;
    const client = new WebSocket(`ws://127.0.0.1:${port}`);
    const [peer] = await accepted;
    const closed = once(client, 'close') as Promise<[number, Buffer]>;
    peer.close(code, name);
    const [received, reason] = await closed;
    assert.equal(received, code, name);
    assert.equal(reason.toString(), name);
  }
});
