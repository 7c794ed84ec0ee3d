import type { Command } from 'commander';
import { serveMcpOnStdio } from '../mcp/serve-stdio';
import { clientCommand, connect, type Connection } from './commands';

/** `broker mcp`: the MCP server (stdio) for VS Code, Claude Code, Cursor…, connected as the user of --key (the host operator without it). */
export function addMcpCommand(program: Command): void {
  clientCommand(program, 'mcp', 'serve the VaultysClaw tools (list agents, dispatch, approvals) to an MCP client on stdin/stdout, as your user').action(async (o: Connection) =>
    serveMcpOnStdio(await connect({ ...o, name: o.name ?? 'mcp' })),
  );
}
