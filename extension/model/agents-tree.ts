import { narrowLimits } from '../../core/policy/command-limits';
import { describeRule } from '../../core/policy/rules';
import { formatBytes, formatLimit, LIMIT_FIELDS } from '../../core/rpc/policy-text';
import type { AgentView } from '../../core/rpc/views';
import type { Capability, CertifiedPolicy, CommandLimits } from '../../core/wire/policy';
import type { AnyRule } from '../../core/wire/policy-rules';
import { shortFingerprint, visibleText } from '../../core/text/untrusted-text';
import { ago, count, isoTime, md, until, type TreeNode } from './tree-node';

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

function detail(id: string, label: string, description: string, icon: string | NonNullable<TreeNode['icon']>, tooltip?: string): TreeNode {
  return { id, label, description, icon: typeof icon === 'string' ? { id: icon } : icon, collapsible: 'none', contextValue: 'agent.detail', ...(tooltip ? { tooltip } : {}) };
}

/** How the agent said, in its last signed hello, it runs commands: the row's text, its icon, and a sentence for tooltips. */
export function confinementState(agent: Pick<AgentView, 'confinement'>): { text: string; icon: NonNullable<TreeNode['icon']>; explanation: string } {
  const c = agent.confinement;
  switch (c?.mode) {
    case 'sandboxed':
      return { text: 'confined (bubblewrap)', icon: { id: 'lock' }, explanation: 'Each command runs in a bubblewrap sandbox: its workspace, read-only system directories, no network but its proxy.' };
    case 'unconfined':
      return {
        text: 'UNCONFINED',
        icon: { id: 'warning', color: 'notificationsWarningIcon.foreground' },
        explanation: `Its operator runs commands without the sandbox (--unconfined-commands): they see the host's files and network. ${visibleText(c.detail)}`.trim(),
      };
    case 'unavailable':
      return {
        text: `sandbox unavailable: ${visibleText(c.detail)}`,
        icon: { id: 'error', color: 'errorForeground' },
        explanation: 'The agent has no working sandbox, so it refuses every command (sandbox-unavailable) until its host is fixed.',
      };
    case undefined:
      return { text: 'unknown (agent older than 0.3.0)', icon: { id: 'question' }, explanation: 'Agents before 0.3.0 do not say how they run commands; they run them unconfined.' };
  }
}

/** What the certified policy lets commands and http_fetch reach. */
export function networkRule(policy: Pick<CertifiedPolicy, 'allowedDomains'>): string {
  return policy.allowedDomains.length ? `through the agent's proxy to: ${policy.allowedDomains.join(', ')}` : 'no network';
}

/** "run_command 3 rules, default ask · write_file 1 rule": what the policy's rules say, per capability; none: approvalRequired decides. */
export function rulesSummary(policy: Pick<CertifiedPolicy, 'rules'>): string {
  const entries = Object.entries(policy.rules ?? {}).filter(([, c]) => c !== undefined);
  if (entries.length === 0) return 'none (Needs approval decides)';
  return entries.map(([capability, c]) => `${capability} ${c!.rules.length} rule${c!.rules.length === 1 ? '' : 's'}${c!.default ? `, default ${c!.default}` : ''}`).join(' · ');
}

/** One Markdown line per rule, in order, as the refusals and the approval panel name them. */
function ruleLines(policy: Pick<CertifiedPolicy, 'rules'>): string[] {
  return Object.entries(policy.rules ?? {}).flatMap(([capability, c]) =>
    c ? (c.rules as readonly AnyRule[]).map((rule, i) => `- ${md(visibleText(`${capability} rule ${i + 1}: ${describeRule(capability as Capability, rule)}`))}`) : [],
  );
}

/** The limits a command runs under: the policy's, narrowed to the agent host's ceilings when the agent stated them. */
export function effectiveLimits(agent: Pick<AgentView, 'confinement'>, policy: Pick<CertifiedPolicy, 'commandLimits'>): CommandLimits {
  return agent.confinement ? narrowLimits(policy.commandLimits, agent.confinement.ceilings) : policy.commandLimits;
}

/** "CPU 600 s · memory 4 GiB · 256 processes · files 1 GiB · writes 2 GiB per intent". */
export function limitsSummary(l: CommandLimits): string {
  return `CPU ${l.cpuSeconds} s · memory ${formatBytes(l.memoryBytes)} · ${l.processes} processes · files ${formatBytes(l.fileBytes)} · writes ${formatBytes(l.workspaceWriteBytes)} per intent`;
}

/** One Markdown line per limit: the effective value, and where the host's ceiling narrowed the policy's. */
function limitLines(agent: Pick<AgentView, 'confinement'>, policy: Pick<CertifiedPolicy, 'commandLimits'>): string[] {
  const effective = effectiveLimits(agent, policy);
  return LIMIT_FIELDS.map((f) => {
    const narrowed = effective[f.key] < policy.commandLimits[f.key];
    const why = narrowed ? ` (policy ${formatLimit(f.kind, policy.commandLimits[f.key])}, narrowed to the agent host's ceiling)` : '';
    return `- ${f.label}: ${formatLimit(f.kind, effective[f.key])}${md(why)}`;
  });
}

/** Rows under an agent: what it may do, its limits and their use, and when it was seen. */
export function agentDetails(agent: AgentView, now: number): TreeNode[] {
  const p = agent.policy;
  const id = (k: string) => `${agent.did}/${k}`;
  const rows: TreeNode[] = [detail(id('did'), 'DID', agent.did, 'key')];
  if (agent.status === 'pending' || !p) {
    rows.push(detail(id('requested'), 'Requested', agent.requested.join(', ') || 'nothing', 'inbox'));
  }
  const confinement = confinementState(agent);
  rows.push(detail(id('confinement'), 'Commands', confinement.text, confinement.icon, md(confinement.explanation)));
  if (p) {
    rows.push(
      detail(id('capabilities'), 'Capabilities', p.capabilities.join(', ') || 'none', 'tools'),
      detail(id('approval'), 'Needs approval', p.approvalRequired.join(', ') || 'none', 'shield'),
      detail(id('rules'), 'Rules', visibleText(rulesSummary(p)), 'list-ordered', p.rules ? ['Allow / ask / deny rules, first match wins:', '', ...ruleLines(p)].join('\n') : undefined),
      detail(id('requests'), 'Requests this hour', `${agent.usage.requestsLastHour} / ${p.maxRequestsPerHour}`, 'pulse'),
      detail(id('tokens'), 'Tokens today', `${agent.usage.tokensToday} / ${p.maxTokensPerDay}`, 'symbol-numeric'),
      detail(id('network'), 'Network', networkRule(p), 'globe'),
      detail(id('limits'), 'Limits', limitsSummary(effectiveLimits(agent, p)), 'dashboard', ['Per command:', '', ...limitLines(agent, p)].join('\n')),
      detail(id('expiry'), 'Policy expires', `${until(p.policyExpiresAt, now)} (${isoTime(p.policyExpiresAt)})`, 'calendar'),
      detail(id('version'), 'Policy', `v${p.policyVersion}`, 'versions'),
    );
  }
  if (agent.statusReason) rows.push(detail(id('reason'), 'Reason', visibleText(agent.statusReason), 'comment'));
  const seen = (at: number) => `${ago(agent.lastSeen, at)} (${isoTime(agent.lastSeen)})`;
  rows.push({ ...detail(id('seen'), agent.online ? 'Connected' : 'Last seen', seen(now), 'clock'), describe: seen });
  return rows;
}

export function agentTooltip(agent: AgentView, now: number): string {
  const p = agent.policy;
  const lines = [
    `**${md(visibleText(agent.name))}** — ${agentGroup(agent)}`,
    '',
    `DID: \`${agent.did}\` (right-click: Copy DID)`,
    '',
    `Requested: ${md(agent.requested.join(', ') || 'nothing')}`,
    '',
    `Commands: ${agent.confinement?.mode === 'unconfined' ? '**UNCONFINED**' : md(confinementState(agent).text)} — ${md(confinementState(agent).explanation)}`,
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
      `Network: ${md(networkRule(p))}`,
      '',
      'Limits per command:',
      '',
      ...limitLines(agent, p),
      '',
      `Policy v${p.policyVersion} expires ${until(p.policyExpiresAt, now)}`,
    );
  }
  if (agent.statusReason) lines.push('', `Reason: ${md(visibleText(agent.statusReason))}`);
  lines.push('', `${agent.online ? 'Connected, seen' : 'Last seen'} ${ago(agent.lastSeen, now)}`);
  return lines.join('\n');
}

/** Said on the agent's own row, not only in its details: its commands are not in a sandbox. */
function unsandboxed(agent: AgentView): string {
  if (agent.confinement?.mode === 'unconfined') return ' · UNCONFINED';
  if (agent.confinement?.mode === 'unavailable') return ' · sandbox unavailable';
  return '';
}

/**
 * The row's words: its state and what it may do ("online · read_file, list_files"), then its fingerprint, so two
 * look-alike names still read differently. Ages in it ("offline, seen 5 min ago") are computed at `now`: the views
 * call it again on a timer (extension/views/age-refresh.ts) so they stay true.
 */
export function agentDescription(agent: AgentView, now: number): string {
  const fingerprint = shortFingerprint(agent.did);
  const caps = (list: readonly string[]) => (list.length ? list.join(', ') : 'nothing');
  switch (agentGroup(agent)) {
    case 'online':
      return `online · ${caps(agent.policy?.capabilities ?? [])}${unsandboxed(agent)} · ${fingerprint}`;
    case 'offline':
      return `offline, seen ${ago(agent.lastSeen, now)} · ${caps(agent.policy?.capabilities ?? [])}${unsandboxed(agent)} · ${fingerprint}`;
    case 'pending':
      return `waiting for approval · ${agent.online ? 'online' : `offline, seen ${ago(agent.lastSeen, now)}`} · asks ${caps(agent.requested)}${unsandboxed(agent)} · ${fingerprint}`;
    case 'revoked':
      return `revoked${agent.statusReason ? `: ${visibleText(agent.statusReason)}` : ''} · ${fingerprint}`;
    case 'rejected':
      return `rejected${agent.statusReason ? `: ${visibleText(agent.statusReason)}` : ''} · ${fingerprint}`;
  }
}

export function agentNode(agent: AgentView, now: number): TreeNode {
  const group = agentGroup(agent);
  return {
    id: agent.did,
    label: visibleText(agent.name),
    description: agentDescription(agent, now),
    describe: (at) => agentDescription(agent, at),
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
      description: count(members.length, 'agent'),
      contextValue: `agentGroup.${group}`,
      ...(icon ? { icon } : {}),
      collapsible: group === 'revoked' || group === 'rejected' ? 'collapsed' : 'expanded',
      children: members.map((a) => agentNode(a, now)),
    });
  }
  return groups;
}

/** How long after connecting the Agents view says "Connecting…" for an agent it was told to expect, before it offers enrolment. */
export const EXPECTED_AGENT_GRACE_MS = 120_000;

/**
 * The agents the view should still say "Connecting…" for: named in vaultysclaw.expectedAgents (the demo names the agent it
 * started), not known to the broker yet, while the connection is younger than the grace period. Empty: the view may
 * say "No agents yet" and offer enrolment, which is then true.
 */
export function awaitedAgents(expected: readonly string[], agents: readonly Pick<AgentView, 'name'>[], connectedSince: number, now: number): string[] {
  if (now - connectedSince > EXPECTED_AGENT_GRACE_MS) return [];
  return expected.filter((name) => !agents.some((a) => a.name === name));
}
