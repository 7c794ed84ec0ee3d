/** Quotes a shell argument only when it needs it. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export interface EnrollmentInput {
  brokerDid: string;
  /** The agent hub URL agents connect to (ws:// or wss://). */
  hubUrl: string;
  /** How the agent CLI is invoked on the build machine. */
  agentCommand?: string;
  workspace?: string;
  capabilities?: readonly string[];
}

/**
 * The exact lines that enroll an agent on a build machine: `init` pins this
 * broker's DID (never trust on first use), `start` connects to its hub.
 */
export function enrollmentCommands(input: EnrollmentInput): { init: string; start: string; text: string } {
  const agent = input.agentCommand ?? 'node dist/agent.js';
  const init = `${agent} init --broker ${shellQuote(input.brokerDid)}`;
  const start = [
    `${agent} start --broker-url ${shellQuote(input.hubUrl)}`,
    input.workspace ? ` --workspace ${shellQuote(input.workspace)}` : '',
    input.capabilities?.length ? ` --request ${shellQuote(input.capabilities.join(','))}` : '',
  ].join('');
  return { init, start, text: `${init}\n${start}\n` };
}

/**
 * The hub URL to give agents: the one the user reaches a team broker by
 * (they share a host), else what the broker reports. A broker listening on
 * every interface reports 0.0.0.0, which no agent can dial.
 */
export function agentHubUrl(reported: string | null, configured: string | null): string | null {
  if (configured) return configured.replace(/\/rpc\/?$/, '').replace(/\/+$/, '');
  if (!reported) return null;
  return reported.replace('://0.0.0.0', '://127.0.0.1').replace('://[::]', '://127.0.0.1');
}
