import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { BUDGETS } from '../../core/budgets';
import type { BrokerClient } from '../cli/broker-client';
import { createMcpServer } from './mcp-server';

/** How long a closing server waits for the intents it cancels to end at the broker. */
const CLOSE_MS = 5_000;

const say = (line: string) => process.stderr.write(`broker mcp: ${line}\n`);

/**
 * Serves the tools on stdin/stdout until the MCP client closes stdin (exit 0), the broker goes away or the MCP
 * connection fails (exit 1, said on stderr). stdout is the protocol: a stray console.log from any library would
 * corrupt it, so the console's stdout methods write to stderr from here on.
 */
export async function serveMcpOnStdio(client: BrokerClient): Promise<void> {
  console.log = console.info = console.debug = console.error;
  const { server, close } = createMcpServer(client);
  const stop = (code: number) => {
    client.close();
    process.exit(code);
  };
  client.connection.onClose(() => {
    say('the broker closed the connection (stopped, restarted or unreachable); the MCP server stops. Start it again once the broker is back.');
    stop(1);
  });
  // The client closed stdin (or the host stops it): the calls in flight are cancelled first, within CLOSE_MS.
  const shutdown = () => {
    const deadline = setTimeout(() => stop(0), CLOSE_MS);
    void close().then(() => {
      clearTimeout(deadline);
      stop(0);
    });
  };
  process.stdin.once('end', shutdown);
  process.once('SIGTERM', shutdown);
  // A message past the bound is cleared unread by the SDK's transport, which then closes: nothing is left to answer.
  const transport = new StdioServerTransport(process.stdin, process.stdout, { maxBufferSize: BUDGETS.mcpMessageBytes.limit });
  let lastError: Error | undefined;
  transport.onerror = (err) => {
    lastError = err;
    say(`MCP transport: ${err.message}`);
  };
  transport.onclose = () => {
    say(`the MCP connection failed (${lastError?.message ?? 'closed'}); messages are at most ${BUDGETS.mcpMessageBytes.limit} bytes. The MCP server stops.`);
    stop(1);
  };
  await server.connect(transport);
  say(`serving the VaultysClaw tools as ${client.user?.name ?? 'unknown'} (${client.user?.did ?? '?'}, ${client.user?.role ?? '?'})`);
}
