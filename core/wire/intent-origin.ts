import { z } from 'zod';

/**
 * Which model dispatched an intent (issue 18), signed by the broker into the intent so the agent, the audit log
 * and the Activity view all see it: "vscode-lm" for the editor's own AI (the extension's language model tools),
 * "mcp:<client>" for an MCP client of `broker mcp` (its clientInfo name, cut to a safe alphabet by
 * mcpOrigin). Absent: a person dispatched it (palette, CLI). It is the client's own word, never a privilege: a
 * user who strips it only loses the model-only rules' extra care for an intent no model chose.
 */
export const IntentOrigin = z.union([
  z.literal('vscode-lm'),
  z.string().regex(/^mcp:[A-Za-z0-9._ -]{1,64}$/, { message: 'mcp: and a client name of 1 to 64 letters, digits, spaces, dots, dashes or underscores' }),
]);
export type IntentOrigin = z.infer<typeof IntentOrigin>;

/** The origin for an MCP client that calls itself `clientName` (any text a client sends): never refused, only cut down. */
export function mcpOrigin(clientName: string | undefined): IntentOrigin {
  const safe = (clientName ?? '').replace(/[^A-Za-z0-9._ -]/g, '').trim().slice(0, 64);
  return `mcp:${safe || 'unnamed'}`;
}
