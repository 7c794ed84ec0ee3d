import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { BUDGETS } from '../../core/budgets';
import { intentResultText } from '../../core/rpc/model-result-text';
import { boundedModelText, utf8Bytes } from '../../core/text/model-text';
import { visibleText } from '../../core/text/untrusted-text';
import { mcpOrigin } from '../../core/wire/intent-origin';
import { Capability } from '../../core/wire/policy';
import type { BrokerClient } from '../cli/broker-client';
import { dispatchAndWait } from '../cli/dispatch-and-wait';
import { directoryText, findAgent, readAgents, readDirectory } from './agent-directory';
import { pendingApprovalsText } from './approvals-text';
import { TOOL_DESCRIPTIONS } from './tool-descriptions';

/** The version MCP clients are told (serverInfo). */
const SERVER_VERSION = '0.5.0';
/** Progress notifications carrying an intent's output are at most this frequent: a chatty command must not flood the client. */
const OUTPUT_PROGRESS_EVERY_MS = 1000;

const text = (body: string, isError = false): CallToolResult => ({ content: [{ type: 'text', text: body }], ...(isError ? { isError: true } : {}) });

/** A failed broker request as a tool error the model can read (its message is for people: never a stack). */
const failure = (what: string, err: unknown): CallToolResult => text(boundedModelText(`${what}: ${visibleText(err instanceof Error ? err.message : String(err))}`, '', ''), true);

/** The server and how to end it: closing cancels every intent still in flight and resolves once each has ended. */
export interface VaultysClawMcp {
  server: McpServer;
  close(): Promise<void>;
}

/**
 * The VaultysClaw tools for an MCP client, acting as the one user `client` proved to be: the broker gives this
 * session that user's role and grants only, and every dispatch is that user's intent, signed for them by the
 * broker's usual path (nothing here holds another key or names another user).
 */
export function createMcpServer(client: BrokerClient): VaultysClawMcp {
  // A client that goes away mid-call (the editor closed) cancels its calls, as its own cancel would: nothing a model
  // started keeps running unwatched.
  const closing = new AbortController();
  const inFlight = new Set<Promise<unknown>>();
  const server = new McpServer(
    { name: 'vaultysclaw', version: SERVER_VERSION },
    {
      capabilities: { tools: {} },
      instructions: 'VaultysClaw runs signed, policy-checked intents on remote build machines (agents). Call vaultysclaw_listAgents first; every vaultysclaw_dispatch may be refused or held for a human reviewer.',
    },
  );

  server.registerTool(
    'vaultysclaw_listAgents',
    { description: TOOL_DESCRIPTIONS.listAgents, annotations: { title: 'List VaultysClaw agents', readOnlyHint: true, openWorldHint: true } },
    async () => {
      try {
        const { head, body } = directoryText(await readDirectory(client));
        return text(boundedModelText(head, body, ''));
      } catch (err) {
        return failure('Could not list the agents', err);
      }
    },
  );

  server.registerTool(
    'vaultysclaw_dispatch',
    {
      description: TOOL_DESCRIPTIONS.dispatch,
      inputSchema: {
        agent: z.string().min(1).max(256).describe('the DID or the exact name of an approved agent'),
        capability: Capability.describe('what to run on the agent'),
        params: z.record(z.string(), z.unknown()).describe("the capability's params, as its description says"),
      },
      annotations: { title: 'Dispatch a signed intent to a VaultysClaw agent', destructiveHint: true, openWorldHint: true },
    },
    async ({ agent: ref, capability, params }, extra) => {
      // A signed intent cannot hold more: refused here, before the broker's socket (whose frame limit would end the session).
      const size = utf8Bytes(JSON.stringify(params));
      if (size > BUDGETS.envelopePayloadBytes.limit) {
        return text(`The params are ${size} bytes as JSON; a signed intent holds at most ${BUDGETS.envelopePayloadBytes.limit}. Send less (a write_file content is at most ${BUDGETS.writeFileBytes.limit} bytes).`, true);
      }
      try {
        const agents = await readAgents(client);
        const found = findAgent(agents.items, ref);
        if (!found.ok) return text(found.problem, true);
        const agent = found.agent;
        const name = visibleText(agent.name);
        const token = extra._meta?.progressToken;
        let step = 0;
        let outputBytes = 0;
        let lastOutputNote = 0;
        const progress = (message: string) => {
          if (token === undefined) return;
          step += 1;
          extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: step, message } }).catch(() => undefined);
        };
        const waiting = dispatchAndWait(
          client,
          { agent: agent.did, capability, params, via: mcpOrigin(server.server.getClientVersion()?.name) },
          {
            signal: AbortSignal.any([extra.signal, closing.signal]),
            onState: (intent) => {
              if (intent.state === 'sent') progress(`signed and sent to agent ${name}`);
              if (intent.state === 'running') progress(`running on agent ${name}`);
            },
            onApprovalPending: (requestId) => progress(`held for a reviewer's approval (request ${requestId}); a reviewer decides in VS Code or with "broker decide"`),
            onProgress: (p) => {
              outputBytes += utf8Bytes(p.text);
              if (Date.now() - lastOutputNote < OUTPUT_PROGRESS_EVERY_MS) return;
              lastOutputNote = Date.now();
              progress(`running on agent ${name}: ${outputBytes} bytes of output so far`);
            },
          },
        );
        inFlight.add(waiting);
        const detail = await waiting.finally(() => inFlight.delete(waiting));
        const result = intentResultText(detail, agent.name);
        return text(result.text, result.isError);
      } catch (err) {
        return failure('The broker did not take the intent', err);
      }
    },
  );

  server.registerTool(
    'vaultysclaw_approvals',
    { description: TOOL_DESCRIPTIONS.approvals, annotations: { title: 'Pending VaultysClaw approvals', readOnlyHint: true, openWorldHint: true } },
    async () => {
      try {
        const agents = await readAgents(client);
        const { head, body } = await pendingApprovalsText(client, agents.items);
        return text(boundedModelText(head, body, ''));
      } catch (err) {
        return failure('Could not list the approvals', err);
      }
    },
  );

  return {
    server,
    close: async () => {
      closing.abort();
      await Promise.allSettled([...inFlight]);
    },
  };
}
