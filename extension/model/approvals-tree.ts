import type { AgentView, ApprovalView, UserView } from '../../core/rpc/views';
import { visibleText } from '../../core/text/untrusted-text';
import { ago, isoTime, md, until, who, type TreeNode } from './tree-node';
import { localOperatorAmong } from './local-operator';

export interface Names {
  agent(did: string): AgentView | undefined;
  user(did: string): UserView | undefined;
}

/** The one-line summary of what a tool call would do: the path, the command line or the request, with invisible characters shown. */
export function toolSummary(capability: string, params: Record<string, unknown>): string {
  if (capability === 'run_command') {
    const args = Array.isArray(params.args) ? params.args.map(String) : [];
    return visibleText([String(params.command ?? ''), ...args].join(' ').trim());
  }
  // The method and the whole URL: its host is what the reviewer checks against the agent's allowed domains.
  if (capability === 'http_fetch') return visibleText(`${String(params.method ?? '')} ${String(params.url ?? '')}`.trim());
  if (typeof params.path === 'string') return visibleText(params.path);
  return visibleText(JSON.stringify(params).slice(0, 80));
}

export const OPEN_APPROVAL_COMMAND = 'vaultysclaw.openApproval';

/** The Approvals view: pending tool calls, oldest first (the one closest to timing out on top). */
export function approvalsTree(approvals: readonly ApprovalView[], names: Names, now: number): TreeNode[] {
  return approvals
    .filter((a) => a.state === 'pending')
    .sort((a, b) => a.requestedAt - b.requestedAt)
    .map((a) => {
      const agent = who(names.agent(a.agent)?.name, a.agent);
      const user = who(names.user(a.user)?.name, a.user);
      const operator = localOperatorAmong([names.user(a.user)?.name]);
      return {
        id: `approval:${a.requestId}`,
        label: `${a.capability} ${toolSummary(a.capability, a.params)}`,
        description: `${user} · ${ago(a.requestedAt, now)} · on ${agent}`,
        tooltip: [
          `**${md(a.capability)}** on ${md(agent)}, asked by ${md(user)}`,
          '',
          `Requested ${ago(a.requestedAt, now)} (${isoTime(a.requestedAt)}); times out ${until(a.expiresAt, now)}, which rejects it.`,
          '',
          `Working directory: \`${visibleText(a.cwd).replace(/`/g, "'")}\``,
          ...(operator ? ['', `_${md(operator)}_`] : []),
        ].join('\n'),
        contextValue: 'approval.pending',
        icon: { id: 'shield', color: 'notificationsWarningIcon.foreground' },
        collapsible: 'none',
        command: { id: OPEN_APPROVAL_COMMAND, title: 'Open Approval', args: [a.requestId] },
      } satisfies TreeNode;
    });
}
