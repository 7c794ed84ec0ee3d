import type { AgentView } from '../../core/rpc/views';
import { shortFingerprint, visibleText } from '../../core/text/untrusted-text';
import { ago, isoTime, md, until, type TreeNode } from './tree-node';

export type AgentGroup = 'online' | 'offline' | 'pending' | 'revoked' | 'rejected';

const GROUPS: { group: AgentGroup; label: string; icon: TreeNode['icon'] }[] = [
  { group: 'online', label: 'Online', icon: { id: 'pass-filled', color: 'testing.iconPassed' } },
  { group: 'offline', label: 'Offline', icon: { id: 'circle-outline' } },
  { group: 'pending', label: 'Pending registration', icon: { id: 'question', color: 'notificationsWarningIcon.foreground' } },
  { group: 'revoked', label: 'Revoked', icon: { id: 'circle-slash', color: 'errorForeground' } },
  { group: 'rejected', label: 'Rejected', icon: { id: 'close' } },
];

/** Which group an agent belongs in: approved agents by connection, the others by registration state. */
export function agentGroup(agent: AgentView): AgentGroup {
  switch (agent.status) {
    case 'approved':
      return agent.online ? 'online' : 'offline';
    case 'pending':
      return 'pending';
    case 'revoked':
      return 'revoked';
    case 'rejected':
      return 'rejected';
  }
}

/** The menus' key: agent.online, agent.offline, agent.pending, agent.revoked, agent.rejected. */
export function agentContextValue(agent: AgentView): string {
  return `agent.${agentGroup(agent)}`;
}

function detail(id: string, label: string, description: string, icon: string, tooltip?: string): TreeNode {
  return { id, label, description, icon: { id: icon }, collapsible: 'none', contextValue: 'agent.detail', ...(tooltip ? { tooltip } : {}) };
}

/** Rows under an agent: what it may do, its limits and their use, and when it was seen. */
export function agentDetails(agent: AgentView, now: number): TreeNode[] {
  const p = agent.policy;
  const id = (k: string) => `${agent.did}/${k}`;
  const rows: TreeNode[] = [detail(id('did'), 'DID', agent.did, 'key')];
  if (agent.status === 'pending' || !p) {
    rows.push(detail(id('requested'), 'Requested', agent.requested.join(', ') || 'nothing', 'inbox'));
  }
  if (p) {
    rows.push(
      detail(id('capabilities'), 'Capabilities', p.capabilities.join(', ') || 'none', 'tools'),
      detail(id('approval'), 'Needs approval', p.approvalRequired.join(', ') || 'none', 'shield'),
      detail(id('requests'), 'Requests this hour', `${agent.usage.requestsLastHour} / ${p.maxRequestsPerHour}`, 'pulse'),
      detail(id('tokens'), 'Tokens today', `${agent.usage.tokensToday} / ${p.maxTokensPerDay}`, 'symbol-numeric'),
      detail(id('expiry'), 'Policy expires', `${until(p.policyExpiresAt, now)} (${isoTime(p.policyExpiresAt)})`, 'calendar'),
      detail(id('version'), 'Policy', `v${p.policyVersion}`, 'versions'),
    );
  }
  if (agent.statusReason) rows.push(detail(id('reason'), 'Reason', visibleText(agent.statusReason), 'comment'));
  rows.push(detail(id('seen'), agent.online ? 'Connected' : 'Last seen', `${ago(agent.lastSeen, now)} (${isoTime(agent.lastSeen)})`, 'clock'));
  return rows;
}

export function agentTooltip(agent: AgentView, now: number): string {
  const p = agent.policy;
  const lines = [
    `**${md(visibleText(agent.name))}** — ${agentGroup(agent)}`,
    '',
    `DID: \`${agent.did}\``,
    '',
    `Requested: ${md(agent.requested.join(', ') || 'nothing')}`,
  ];
  if (p) {
    lines.push(
      '',
      `Capabilities: ${md(p.capabilities.join(', ') || 'none')}`,
      '',
      `Needs approval: ${md(p.approvalRequired.join(', ') || 'none')}`,
      '',
      `Requests in the last hour: ${agent.usage.requestsLastHour} of ${p.maxRequestsPerHour}`,
      '',
      `Tokens today: ${agent.usage.tokensToday} of ${p.maxTokensPerDay}`,
      '',
      `Policy v${p.policyVersion} expires ${until(p.policyExpiresAt, now)}`,
    );
  }
  if (agent.statusReason) lines.push('', `Reason: ${md(visibleText(agent.statusReason))}`);
  lines.push('', `${agent.online ? 'Connected, seen' : 'Last seen'} ${ago(agent.lastSeen, now)}`);
  return lines.join('\n');
}

export function agentNode(agent: AgentView, now: number): TreeNode {
  const group = agentGroup(agent);
  // The name is the agent's own choice: every row carries its fingerprint, so a look-alike registration is visible.
  const fingerprint = shortFingerprint(agent.did);
  const description =
    group === 'pending'
      ? `${fingerprint} · ${agent.online ? 'online' : 'offline'} · asks ${agent.requested.join(', ') || 'nothing'}`
      : group === 'online' || group === 'offline'
        ? `${fingerprint} · ${agent.usage.requestsLastHour}/${agent.policy?.maxRequestsPerHour ?? 0} req/h`
        : fingerprint;
  return {
    id: agent.did,
    label: visibleText(agent.name),
    description,
    tooltip: agentTooltip(agent, now),
    contextValue: agentContextValue(agent),
    icon: { id: group === 'online' ? 'vm-running' : group === 'pending' ? 'vm-outline' : 'vm' },
    collapsible: 'collapsed',
    children: agentDetails(agent, now),
  };
}

/** The Agents view: one group per state that has agents, agents sorted by name within it. */
export function agentsTree(agents: readonly AgentView[], now: number): TreeNode[] {
  const groups: TreeNode[] = [];
  for (const { group, label, icon } of GROUPS) {
    const members = agents.filter((a) => agentGroup(a) === group).sort((a, b) => a.name.localeCompare(b.name) || a.did.localeCompare(b.did));
    if (members.length === 0) continue;
    groups.push({
      id: `group:${group}`,
      label,
      description: String(members.length),
      contextValue: `agentGroup.${group}`,
      ...(icon ? { icon } : {}),
      collapsible: group === 'revoked' || group === 'rejected' ? 'collapsed' : 'expanded',
      children: members.map((a) => agentNode(a, now)),
    });
  }
  return groups;
}
