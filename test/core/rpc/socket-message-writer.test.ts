import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { createMessageConnection, SocketMessageReader } from 'vscode-jsonrpc/node';
import { SocketMessageWriter } from '../../../core/rpc/socket-message-writer';

/** A connected pair of real TCP sockets on loopback, closed when the file ends. */
async function socketPair(): Promise<{ client: Socket; server: Socket }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect(port, '127.0.0.1');
  const [serverSide] = await Promise.all([accepted, new Promise((resolve) => client.once('connect', resolve))]);
  after(() => {
    client.destroy();
    serverSide.destroy();
    server.close();
  });
  return { client, server: serverSide };
}

test('each message is one Content-Length frame; the messages of one turn are held and leave together when it ends', async () => {
  const { client, server } = await socketPair();
  const chunks: Buffer[] = [];
  server.on('data', (chunk: Buffer) => chunks.push(chunk));
  const writer = new SocketMessageWriter(client);
  const messages = [{ jsonrpc: '2.0', id: 1, result: 'é' }, { jsonrpc: '2.0', method: 'n', params: [1] }];
  const written = Promise.all(messages.map((m) => writer.write(m)));
  const expected = Buffer.concat(
    messages.map((m) => {
      const body = Buffer.from(JSON.stringify(m));
      return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]);
    }),
  );
  assert.equal(client.writableLength, expected.length, 'both frames held in the socket until the turn ends');
  await written;
  for (let i = 0; i < 100 && Buffer.concat(chunks).length < expected.length; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(Buffer.concat(chunks), expected, 'lengths in bytes, not characters');
  assert.equal(client.writableLength, 0);
});

test('a vscode-jsonrpc connection reads it: a request and its response cross, a large response queued ahead included', async () => {
  const { client, server } = await socketPair();
  const serving = createMessageConnection(new SocketMessageReader(server), new SocketMessageWriter(server));
  serving.onRequest('echo', (text: string) => text);
  serving.listen();
  const asking = createMessageConnection(new SocketMessageReader(client), new SocketMessageWriter(client));
  asking.listen();
  after(() => {
    serving.dispose();
    asking.dispose();
  });
  const big = 'x'.repeat(4 * 1024 * 1024);
  const [large, small] = await Promise.all([asking.sendRequest<string>('echo', big), asking.sendRequest<string>('echo', 'hi')]);
  assert.equal(large.length, big.length);
  assert.equal(small, 'hi');
});

test('the peer going away is reported as a close, and end() half-closes the socket', async () => {
  const { client, server } = await socketPair();
  const writer = new SocketMessageWriter(client);
  const closed = new Promise<void>((resolve) => writer.onClose(() => resolve()));
  const ended = new Promise<void>((resolve) => server.once('end', resolve));
  writer.end();
  await ended;
  server.destroy();
  await closed;
});
