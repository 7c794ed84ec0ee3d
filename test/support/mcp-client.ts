import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { join } from 'node:path';
import { ROOT, waitFor } from './processes';

/** A real MCP client (the SDK's) speaking to `node dist/broker.js mcp …` over stdio, as an editor would. */
export interface McpSession {
  client: Client;
  pid: number;
  /** The server's stderr, as it came (stdout is the protocol). */
  stderr: () => string;
  /** Whether the server process has ended (the transport closed). */
  ended: () => boolean;
  close(): Promise<void>;
}

export async function startMcpSession(args: string[], clientName = 'test-mcp-client'): Promise<McpSession> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [join(ROOT, 'dist', 'broker.js'), 'mcp', ...args], stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  let ended = false;
  const client = new Client({ name: clientName, version: '1.0.0' });
  client.onclose = () => (ended = true);
  try {
    await client.connect(transport);
  } catch (err) {
    await transport.close().catch(() => undefined);
    throw new Error(`the MCP server did not start: ${(err as Error).message}\n${stderr}`);
  }
  const pid = transport.pid!;
  await waitFor('the MCP server to say whom it serves', () => stderr.includes('serving the VaultysClaw tools'));
  return {
    client,
    pid,
    stderr: () => stderr,
    ended: () => ended,
    close: async () => {
      await client.close().catch(() => undefined);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Ended already.
      }
    },
  };
}

/** The text of a tool result (the server answers one text block). */
export function resultText(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? '').join('\n');
}
