import { BUDGETS } from '../../core/budgets';
import { describeRule } from '../../core/policy/rules';
import { collectPages } from '../../core/rpc/pages';
import type { AgentView, GrantView } from '../../core/rpc/views';
import { visibleText } from '../../core/text/untrusted-text';
import type { Capability } from '../../core/wire/policy';
import type { AnyRule } from '../../core/wire/policy-rules';
import type { BrokerClient } from '../cli/broker-client';

const PAGE = BUDGETS.listPageItems.limit;

/** The agents this user sees and their own live grants, as the broker answers them for this user. */
export interface Directory {
  agents: AgentView[];
  /** Every page was read (a fleet past collectPages' pages is listed in part, and says so). */
  complete: boolean;
  grants: GrantView[];
}

/** Every agent the broker lists for this user, page after page (at most collectPages' pages). */
export const readAgents = (client: BrokerClient) => collectPages((cursor) => client.call('agentsList', { limit: PAGE, cursor }));

export async function readDirectory(client: BrokerClient): Promise<Directory> {
  const me = client.user?.did;
  const [agents, grants] = await Promise.all([
    readAgents(client),
    me ? collectPages((cursor) => client.call('grantsList', { user: me, limit: PAGE, cursor })) : { items: [], complete: true },
  ]);
  const now = Date.now();
  return { agents: agents.items.filter((a) => !a.removed), complete: agents.complete, grants: grants.items.filter((g) => !g.revoked && g.expiresAt > now) };
}

export type AgentLookup = { ok: true; agent: AgentView } | { ok: false; problem: string };

/**
 * The agent a model named: a DID as given, or the name of exactly one approved agent. Names are chosen by agents:
 * a pending or revoked one never takes or blocks an approved agent's name, and two approved agents of one name
 * are refused by name (the model is told both DIDs), never guessed between.
 */
export function findAgent(agents: readonly AgentView[], ref: string): AgentLookup {
  const byDid = agents.find((a) => a.did === ref);
  if (byDid) return { ok: true, agent: byDid };
  const named = agents.filter((a) => a.status === 'approved' && a.name === ref);
  if (named.length === 1) return { ok: true, agent: named[0]! };
  const shown = JSON.stringify(visibleText(ref.slice(0, 200)));
  if (named.length > 1) return { ok: false, problem: `${named.length} approved agents are named ${shown}; give one of their DIDs: ${named.map((a) => a.did).join(', ')}.` };
  return { ok: false, problem: `No approved agent is named ${shown} and no agent has that DID; call vaultysclaw_listAgents to see the agents.` };
}

/** The capabilities this user's live grants give on `agent` (a grant for "*" covers every agent). */
function grantedTo(grants: readonly GrantView[], agent: string): Capability[] {
  return [...new Set(grants.filter((g) => g.agent === agent || g.agent === '*').flatMap((g) => g.capabilities))];
}

/** What the policy decides for each capability it grants, in words: its rules in order and its default, or approvalRequired. */
function ruleLines(policy: NonNullable<AgentView['policy']>): string[] {
  return policy.capabilities.map((capability) => {
    const entry = policy.rules?.[capability as keyof NonNullable<typeof policy.rules>];
    const needsApproval = policy.approvalRequired.includes(capability);
    if (!entry) return `  ${capability}: ${needsApproval ? 'needs approval by a reviewer' : 'allowed'}`;
    const rules = (entry.rules as readonly AnyRule[]).map((rule, i) => `rule ${i + 1}: ${describeRule(capability, rule)}`);
    const fallback = entry.default ?? (needsApproval ? 'ask' : 'allow');
    return `  ${capability}: ${[...rules, `otherwise ${fallback}`].join('; ')}`;
  });
}

function agentText(agent: AgentView, grants: readonly GrantView[]): string {
  // Each line made visible on its own: a name or a rule note with a line break must not fake a line of the list.
  const lines = [`${agent.name} (${agent.did}): ${agent.status}, ${agent.online ? 'online' : 'offline'}`];
  const p = agent.policy;
  if (agent.status === 'approved' && p) {
    const mine = grantedTo(grants, agent.did).filter((c) => p.capabilities.includes(c));
    lines.push(`  your grants here: ${mine.length ? mine.join(', ') : 'none (an admin must grant you a capability before you can dispatch to it)'}`);
    lines.push(`  network for commands and http_fetch: ${p.allowedDomains.length ? p.allowedDomains.join(', ') : 'none'}`);
    lines.push(`  policy valid until ${new Date(p.policyExpiresAt).toISOString()}; what it decides:`);
    lines.push(...ruleLines(p));
  }
  return lines.map((line) => visibleText(line)).join('\n');
}

/** Online approved agents first, then the other approved ones, then the rest; by name within each. */
const rank = (a: AgentView) => (a.status === 'approved' ? (a.online ? 0 : 1) : 2);

export function directoryText(directory: Directory): { head: string; body: string } {
  const agents = [...directory.agents].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  const online = agents.filter((a) => a.status === 'approved' && a.online).length;
  const head = `${agents.length} agent${agents.length === 1 ? '' : 's'}${directory.complete ? '' : ' (the first pages only: the broker has more)'}, ${online} approved and online:`;
  return { head, body: agents.map((a) => agentText(a, directory.grants)).join('\n') };
}
