import * as vscode from 'vscode';
import type { ApprovalView } from '../../core/rpc/views';
import { displayName, visibleText } from '../../core/text/untrusted-text';
import { command, type Services } from '../commands/services';
import { OPEN_APPROVAL_COMMAND } from '../model/approvals-tree';
import { sendDecision } from './decision';
import { cannotDecide, panelTitle, paramsForDisplay, shortCall } from './panel-controller';
import { requestArgument, type RequestSource } from './request-argument';
import { notify } from '../notify';

const REASON_CHARS = 1000;
/** A dialog reads well up to about this much text. */
const MODAL_CHARS = 2000;

/** Approve / Reject from the diff editor's title bar and from an Approvals row (inline and context menu). */
export function registerApprovalCommands(services: Services): vscode.Disposable[] {
  return [
    command(services, 'vaultysclaw.approveRequest', (arg) => decideFrom(services, arg, 'approve')),
    command(services, 'vaultysclaw.rejectRequest', (arg) => decideFrom(services, arg, 'reject')),
  ];
}

/**
 * Decides the request the invoking place belongs to, signed with the user's key as the panel does (sendDecision).
 * The whole request is read from the broker first and judged by the panel's rule (cannotDecide): a row shows a cut
 * summary, and nobody signs what they were not shown in full, so approving from a row first shows the whole call.
 */
async function decideFrom(services: Services, arg: unknown, decision: 'approve' | 'reject'): Promise<void> {
  const target = requestArgument(arg);
  if (!target) {
    void notify.warn('VaultysClaw: this is not an approval request, so there is nothing to decide here.');
    return;
  }
  const session = await services.connection.requireSession(`${decision} the request`);
  if (!session) return;
  const approval = await session.call('approvalsGet', { requestId: target.requestId });
  services.model.noteApproval(approval);
  const reviewer = { did: session.user.did, name: session.user.name, role: session.role };
  const refusal = cannotDecide(approval, reviewer, true, Date.now());
  if (refusal) {
    void notify.warn(`VaultysClaw: ${refusal}`);
    return;
  }
  const reason = decision === 'reject' ? await askReason(approval) : await confirmApprove(services, approval, target.source);
  if (reason === undefined) return;
  const view = await sendDecision(session, services.model, approval, decision, reason);
  services.log.info(`${decision} ${approval.capability} request ${approval.requestId} (intent ${approval.intentId}) as ${session.user.did}, from the ${target.source === 'diff' ? 'diff editor' : target.source === 'row' ? 'Approvals view' : 'command'}`);
  const missing = view.state === 'pending' ? view.reviewersRequired - view.approvals.length : 0;
  void notify.info(
    `VaultysClaw: you ${decision === 'approve' ? 'approved' : 'rejected'} ${approval.capability} ${shortCall(approval)}; the decision was signed with your key.` +
      (missing > 0 ? ` It waits for ${missing} more approval${missing === 1 ? '' : 's'} by somebody else.` : ''),
  );
}

/** The reason for a rejection (the requester and the audit log see it); undefined when the reviewer cancels. */
async function askReason(approval: ApprovalView): Promise<string | undefined> {
  return vscode.window.showInputBox({
    title: `Reject ${approval.capability} ${shortCall(approval)}`,
    prompt: 'Why? The requester and the audit log see it (may be left empty).',
    ignoreFocusOut: true,
    validateInput: (text) => (text.length > REASON_CHARS ? `At most ${REASON_CHARS} characters.` : null),
  });
}

/**
 * From the diff editor the reviewer is looking at the content; from a row they saw one cut line, so a modal shows the
 * whole call (every parameter, who asked, which agent) before anything is signed. '' to approve, undefined to stop.
 */
async function confirmApprove(services: Services, approval: ApprovalView, source: RequestSource): Promise<string | undefined> {
  if (source === 'diff') return '';
  const name = (n: { name: string } | undefined, did: string) => (n ? displayName(n.name, did) : did);
  const detail = [
    `Asked by ${name(services.model.user(approval.user), approval.user)} on ${name(services.model.agent(approval.agent), approval.agent)}, in ${visibleText(approval.cwd)}.`,
    ...(approval.rule ? [`Asked by the rule ${visibleText(approval.rule)}.`] : []),
    '',
    ...paramsForDisplay(approval.params).map((p) => `${p.name}: ${p.text}`),
  ].join('\n');
  if (detail.length > MODAL_CHARS) {
    // Too long to read in a dialog, and never cut: the panel shows it in full.
    const open = await notify.warn(`${panelTitle(approval)} The request is too long to show here; review it in its panel.`, { modal: true }, 'Open Approval');
    if (open) await vscode.commands.executeCommand(OPEN_APPROVAL_COMMAND, approval.requestId);
    return undefined;
  }
  const choice = await notify.warn(`${panelTitle(approval)} Your approval is signed with your key.`, { modal: true, detail }, 'Approve');
  return choice === 'Approve' ? '' : undefined;
}
