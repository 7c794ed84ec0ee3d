import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type pino from 'pino';
import { BUDGETS } from '../../core/budgets';
import type { LaunchPart } from '../confinement/launch-part';
import { createAgentLogger } from '../log';
import { ToolFailure, type ToolContext } from '../tools/types';
import { EgressProxy, PROXY_SOCKET_NAME } from './egress-proxy';

/** Where the bridge listens inside the sandbox's own network namespace (nothing else listens there). */
export const BRIDGE_PORT = 3128;
/** Inside the sandbox's private /tmp: the proxy's socket directory and the bridge, both read-only. */
const SANDBOX_EGRESS_DIR = '/tmp/.vaultysclaw-egress';
const SANDBOX_BRIDGE = '/tmp/.vaultysclaw-sandbox-bridge.js';

let log: pino.Logger | undefined;
/** The agent's logger (its one factory), made on the first refusal: the tool context carries none. */
function egressLog(): pino.Logger {
  log ??= createAgentLogger();
  return log;
}

/**
 * dist/sandbox-bridge.js beside the running agent bundle (dist/agent.js); from the sources (tests under tsx),
 * the built one in dist/ at the repository's root.
 */
export function bridgeScript(): string {
  const beside = join(__dirname, 'sandbox-bridge.js');
  if (existsSync(beside)) return beside;
  const built = resolve(__dirname, '..', '..', 'dist', 'sandbox-bridge.js');
  if (existsSync(built)) return built;
  throw new ToolFailure('failed', 'the egress bridge (sandbox-bridge.js) is missing beside the agent: rebuild the agent (npm run build)');
}

/**
 * The egress piece of a sandboxed command's start, or null when it has none: with an empty allowedDomains the
 * command's network namespace has no route at all (the sandbox's --unshare-net) and nothing is added; unconfined
 * commands share the host's network, so a proxy would filter nothing. Otherwise a proxy for this command alone
 * (its socket directory bound read-only into the sandbox), the bridge in front of the command, and the
 * variables that make HTTP clients use it. finish() closes the proxy and every connection it holds.
 */
export function egressLaunchPart(ctx: Pick<ToolContext, 'policy' | 'host' | 'onProgress'>): LaunchPart | null {
  if (ctx.policy.allowedDomains.length === 0 || ctx.host.confinement.mode !== 'sandboxed') return null;
  const bridge = bridgeScript();
  const node = realpathSync(process.execPath);
  // A command chooses how often it is refused: past the budget, refusals are only counted, then told in one line.
  let refusals = 0;
  const proxy = EgressProxy.open({ policy: ctx.policy, host: ctx.host }, ({ host, port, why }) => {
    if (++refusals > BUDGETS.egressRefusalReports.limit) return;
    // In the agent's log whoever started the command (an llm_task streams no progress), and to the caller's viewer.
    egressLog().warn({ event: 'egress.refused', host, port, why }, 'egress refused');
    ctx.onProgress('status', `egress refused${host ? ` ${host}${port === null ? '' : `:${port}`}` : ''}: ${why}\n`);
  });
  const url = `http://127.0.0.1:${BRIDGE_PORT}`;
  return {
    bwrapArgs: [
      '--ro-bind', proxy.socketDir, SANDBOX_EGRESS_DIR,
      '--ro-bind', bridge, SANDBOX_BRIDGE,
      // The sandbox shows /usr; a node installed elsewhere (nvm, /opt) is shown read-only where it lives.
      ...(node.startsWith('/usr/') ? [] : ['--ro-bind', dirname(node), dirname(node)]),
    ],
    inner: [node, SANDBOX_BRIDGE, `${SANDBOX_EGRESS_DIR}/${PROXY_SOCKET_NAME}`, String(BRIDGE_PORT), '--'],
    env: { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, ALL_PROXY: url, all_proxy: url },
    finish: async () => {
      await proxy.close();
      const unreported = refusals - BUDGETS.egressRefusalReports.limit;
      if (unreported > 0) {
        egressLog().warn({ event: 'egress.refused-summary', unreported }, 'egress refusals not reported one by one');
        ctx.onProgress('status', `egress refused ${unreported} more connection${unreported === 1 ? '' : 's'}, not listed one by one\n`);
      }
      return null;
    },
  };
}
