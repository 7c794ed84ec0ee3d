import type { PolicyTestResult } from '../../core/rpc/views';
import { visibleText } from '../../core/text/untrusted-text';

/** What was asked of the dry run, as the answer names it. */
export interface TestedCall {
  agentName: string;
  capability: string;
  /** The call as the approvals view shows it: the command line, the path, the method and URL. */
  summary: string;
  asUser: string;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** The verdict in one sentence, for the notification: allowed, needs N approvals, or refused with its reason. */
export function verdictHeadline(result: PolicyTestResult, call: TestedCall): string {
  const subject = `${call.capability} ${call.summary} on ${call.agentName}`;
  // The broker's words and rule descriptions quote what users typed: invisible characters made visible.
  const rule = result.rule ? ` (${visibleText(result.rule.description)})` : '';
  switch (result.verdict) {
    case 'allowed':
      return `Allowed: ${subject} would run without a reviewer${rule}.`;
    case 'needs-approval':
      return `Needs ${plural(result.reviewers, 'approval')}: ${subject} would wait for ${result.reviewers === 1 ? 'a reviewer' : `${result.reviewers} distinct reviewers`}${result.selfReview ? ' (the dispatching user may be one of them for a model\'s calls)' : ''}${rule}.`;
    case 'refused':
      return `Refused (${result.reason ?? 'refused'}) by ${visibleText(result.gate)}: ${subject}: ${visibleText(result.message)}`;
  }
}

/** The whole answer as plain text, for "Show Details": which gate or rule decided, why, and what only the agent host checks. */
export function verdictDetails(result: PolicyTestResult, call: TestedCall): string {
  const lines = [
    `Test Policy: ${call.capability} ${call.summary}`,
    `On ${call.agentName}, dispatched by ${call.asUser}. A dry run: nothing was signed, recorded or sent.`,
    '',
    `Verdict:     ${result.verdict === 'allowed' ? 'allowed' : result.verdict === 'needs-approval' ? `needs ${plural(result.reviewers, 'approval')}` : `refused (${result.reason ?? 'refused'})`}`,
    `Decided by:  ${visibleText(result.gate)}`,
    `Why:         ${visibleText(result.message)}`,
  ];
  if (result.rule) {
    const where = result.rule.source === 'rule' ? `rule ${result.rule.index === null ? '?' : result.rule.index + 1}` : result.rule.source === 'default' ? "the capability's default" : 'approvalRequired (no rules for this capability)';
    lines.push(`Rule:        ${where}, effect ${result.rule.effect}: ${visibleText(result.rule.description)}`);
  }
  if (result.verdict === 'needs-approval') {
    lines.push(`Reviewers:   ${result.reviewers} distinct, none of them the requester${result.selfReview ? " (except that the dispatching user may review a call their model chose: a task's tool calls, or an intent an editor AI or MCP client sent)" : ''}`);
  }
  if (result.hostChecks.length) {
    lines.push('', 'Checked only on the agent host (it may be stricter there):', ...result.hostChecks.map((c) => `  - ${visibleText(c)}`));
  }
  return `${lines.join('\n')}\n`;
}
