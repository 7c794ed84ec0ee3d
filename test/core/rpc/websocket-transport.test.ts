import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import type { Message } from 'vscode-jsonrpc';
import WebSocket, { WebSocketServer } from 'ws';
import { WebSocketMessageReader, WebSocketMessageWriter } from '../../../core/rpc/websocket-transport';

/** A real WebSocket connection on loopback: the server's socket and the client's, closed when the file ends. */
async function connection(): Promise<{ server: WebSocket; client: WebSocket }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`);
  await once(client, 'open');
  const [server] = await accepted;
  after(() => {
    client.terminate();
    wss.close();
  });
  return { server, client };
}

/** What the reader hands on and what it reports as errors, in order. */
function read(socket: WebSocket, admit?: () => boolean) {
  const events: string[] = [];
  const reader = new WebSocketMessageReader(socket, admit);
  reader.listen((m: Message) => events.push(`message ${JSON.stringify(m)}`));
  reader.onError((err) => events.push(`error ${err.message}`));
  reader.onClose(() => events.push('close'));
  return events;
}

const settle = async (events: string[], n: number) => {
  for (let i = 0; i < 200 && events.length < n; i++) await new Promise((r) => setTimeout(r, 5));
};

test('one JSON message per text frame; binary and non-JSON frames are transport errors, not crashes, and the next frame still reads', async () => {
  const { server, client } = await connection();
  const events = read(server);
  client.send(Buffer.from('{"jsonrpc":"2.0","method":"a"}'), { binary: true });
  client.send('not json');
  client.send('{"jsonrpc":"2.0","method":"b"}');
  await settle(events, 3);
  assert.deepEqual(events, ['error JSON-RPC frames must be text', 'error JSON-RPC frame is not JSON', 'message {"jsonrpc":"2.0","method":"b"}']);
  client.close();
  await settle(events, 4);
  assert.equal(events[3], 'close');
});

test('a frame the admission check refuses is dropped unread, whatever it holds', async () => {
  const { server, client } = await connection();
  let admitted = 0;
  const events = read(server, () => ++admitted !== 2);
  for (const method of ['a', 'b', 'c']) client.send(JSON.stringify({ jsonrpc: '2.0', method }));
  client.send(Buffer.from([1]), { binary: true });
  await settle(events, 3);
  assert.deepEqual(events, ['message {"jsonrpc":"2.0","method":"a"}', 'message {"jsonrpc":"2.0","method":"c"}', 'error JSON-RPC frames must be text']);
});

test('the writer sends each message as one text frame, refuses once the connection is closed, and ends with a normal close', async () => {
  const { server, client } = await connection();
  const received: string[] = [];
  client.on('message', (data, isBinary) => received.push(`${isBinary ? 'binary' : 'text'} ${String(data)}`));
  const writer = new WebSocketMessageWriter(server);
  await writer.write({ jsonrpc: '2.0', method: 'n' } as Message);
  await settle(received, 1);
  assert.deepEqual(received, ['text {"jsonrpc":"2.0","method":"n"}']);
  const closed = once(client, 'close') as Promise<[number]>;
  writer.end();
  assert.equal((await closed)[0], 1000);
  await assert.rejects(writer.write({ jsonrpc: '2.0', method: 'late' } as Message), /the connection is closed/);
});
