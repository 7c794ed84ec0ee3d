import { BUDGETS } from '../../core/budgets';
import { collectPages } from '../../core/rpc/pages';
import type { AgentView, ApprovalView } from '../../core/rpc/views';
import { visibleText } from '../../core/text/untrusted-text';
import type { BrokerClient } from '../cli/broker-client';

const PAGE = BUDGETS.listPageItems.limit;

/** The pending approval requests the broker shows this user, in words: read only, nothing here decides one. */
export async function pendingApprovalsText(client: BrokerClient, agents: readonly AgentView[]): Promise<{ head: string; body: string }> {
  const { items, complete } = await collectPages((cursor) => client.call('approvalsList', { state: 'pending', limit: PAGE, cursor }));
  const me = client.user?.did;
  const nameOf = (did: string) => agents.find((a) => a.did === did)?.name ?? 'unknown agent';
  const line = (a: ApprovalView) =>
    visibleText(
      [
        `request ${a.requestId}: ${a.capability} ${JSON.stringify(a.params)}${a.paramsTruncated ? ' (long params cut)' : ''}`,
        `on agent ${nameOf(a.agent)} (${a.agent}), intent ${a.intentId}, asked by ${a.user === me ? 'you' : a.user}${a.modelCall ? ' (a call chosen by an llm_task model)' : ''}`,
        `${a.approvals.length} of ${a.reviewersRequired} approval${a.reviewersRequired === 1 ? '' : 's'}, waits until ${new Date(a.expiresAt).toISOString()}${a.rule ? `, asked by ${a.rule}` : ''}`,
      ].join('; '),
    );
  const head = items.length === 0 ? 'No tool call waits for a reviewer.' : `${items.length} tool call${items.length === 1 ? '' : 's'} wait${items.length === 1 ? 's' : ''} for a reviewer${complete ? '' : ' (the first pages only)'}; a reviewer decides in VS Code or with "broker decide":`;
  return { head, body: items.map(line).join('\n') };
}
