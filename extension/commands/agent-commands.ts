import * as vscode from 'vscode';
import { inertLinks } from '../model/notification-text';
import { visibleJson, visibleText } from '../../core/text/untrusted-text';
import type { IntentDetail } from '../../core/rpc/views';
import { FINAL_INTENT_STATES } from '../../core/rpc/views';
import type { Capability } from '../../core/wire/policy';
import { intentOutcome } from '../model/activity-tree';
import { askParams } from './ask-params';
import { askPolicy } from './policy-picker';
import { command, didArgument, pickAgent, type Services } from './services';
import { describeRpcError, type BrokerSession } from '../connection/broker-session';
import { cancelIntent, type DispatchStatus } from '../model/intent-watch';
import { dispatchAndWaitFinal } from '../model/dispatch-wait';
import { SOLO_CHOICES, soloReview } from '../model/solo-review';
import { OPEN_APPROVAL_COMMAND, toolSummary } from '../model/approvals-tree';
import { notify } from '../notify';


/**
 * Read-only documents for intents and their results. Opened as untitled
 * documents they showed as unsaved ("Untitled-1 ●") and asked to be saved
 * when closed; these are named after the intent and need no saving (Save As
 * still works).
 */
const JSON_SCHEME = 'vaultysclaw-intent';
const jsonDocuments = new Map<string, string>();
let jsonChanged: vscode.EventEmitter<vscode.Uri> | undefined;

function registerJsonDocuments(): vscode.Disposable {
  const changed = new vscode.EventEmitter<vscode.Uri>();
  jsonChanged = changed;
  return vscode.Disposable.from(
    changed,
    vscode.workspace.registerTextDocumentContentProvider(JSON_SCHEME, { onDidChange: changed.event, provideTextDocumentContent: (uri) => jsonDocuments.get(uri.toString()) ?? '' }),
    vscode.workspace.onDidCloseTextDocument((doc) => {
      if (doc.uri.scheme === JSON_SCHEME) jsonDocuments.delete(doc.uri.toString());
    }),
  );
}

/** Shows JSON in a read-only editor titled `name`.json (the same name again shows the new content). */
export async function showJson(value: unknown | string, name: string): Promise<void> {
  await showReadOnly(typeof value === 'string' ? value : `${visibleJson(value)}\n`, `${name}.json`);
}

/** Shows text in a read-only editor titled `fileName` (its extension picks the language); the same name again shows the new content. */
export async function showReadOnly(content: string, fileName: string): Promise<void> {
  const uri = vscode.Uri.from({ scheme: JSON_SCHEME, path: `/${fileName.replace(/[^A-Za-z0-9._-]/g, '-')}` });
  jsonDocuments.set(uri.toString(), content);
  jsonChanged?.fire(uri);
  const doc = await vscode.workspace.openTextDocument(uri);
  await vscode.window.showTextDocument(doc, { preview: false });
}

/**
 * Sends an intent and waits for its final state, with progress and cancel. Cancel is a real cancel
 * (intents/cancel): the broker ends the intent and has its agent stop the tool or drop the call waiting for a
 * reviewer. While a reviewer must act, the notification says who and offers Open Approval. A call that nobody
 * but the requester could review is named before it is sent (soloReview).
 */
export async function dispatchAndWait(services: Services, agent: string, capability: Capability, params: Record<string, unknown>, title: string): Promise<IntentDetail | undefined> {
  const session = await services.connection.requireSession('dispatch an intent');
  if (!session) return undefined;
  if (!(await confirmReviewable(services, session, { agent, capability, params }))) return undefined;
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: inertLinks(title), cancellable: true }, async (progress, token) => {
    progress.report({ message: 'signing and sending…' });
    const offered = new Set<string>();
    let sentId = '';
    return dispatchAndWaitFinal(session, services.model, { agent, capability, params }, token, {
      sent: (sent) => {
        sentId = sent.id;
        void vscode.commands.executeCommand('vaultysclaw.showResult', sent.id, { preserveFocus: true });
      },
      status: (status) => {
        progress.report({ message: inertLinks(status.message) });
        const request = status.waitingFor;
        if (request && !offered.has(request.requestId)) {
          offered.add(request.requestId);
          void offerApproval(services, session, request.intentId, request.requestId, status);
        }
      },
      // A command's output is the agent's (or a repository file's) words: no link of theirs in the notification.
      progress: (p) => progress.report({ message: inertLinks(p.text.trim().slice(0, 120)) }),
      // Refused (it ended meanwhile, say): stop waiting and say why; the Activity view shows how it ends.
      cancelRefused: (err) => void notify.warn(`VaultysClaw: could not cancel intent ${sentId.slice(0, 8)}: ${describeRpcError(err)}`),
    });
  });
}

/** Beside the progress: the call waits for a reviewer, who; Open Approval opens its request, Cancel Intent withdraws it. */
async function offerApproval(services: Services, session: BrokerSession, intentId: string, requestId: string, status: DispatchStatus): Promise<void> {
  const text = inertLinks(`VaultysClaw: ${status.message}.${status.note ? ` ${status.note}` : ''}`);
  const choice = await notify.info(text, OFFER.open, OFFER.cancel);
  if (choice === OFFER.open) await vscode.commands.executeCommand(OPEN_APPROVAL_COMMAND, requestId);
  else if (choice === OFFER.cancel) await cancelIntent(session, services.model, intentId).catch((err: unknown) => notify.warn(`VaultysClaw: ${describeRpcError(err)}`));
}

const OFFER = { open: 'Open Approval', cancel: 'Cancel Intent' } as const;

/**
 * Before a call that will wait for reviewers: if nobody but the requester could decide it, say so and let them
 * withdraw it before it is sent. True: dispatch. The dry run failing (an older broker) never blocks a dispatch.
 */
async function confirmReviewable(services: Services, session: BrokerSession, request: { agent: string; capability: Capability; params: Record<string, unknown> }): Promise<boolean> {
  const dry = await session.call('policyTest', request).catch(() => undefined);
  if (!dry) return true;
  const users = services.model.users().length > 0 ? services.model.users() : (await session.call('usersList', {}).catch(() => undefined))?.items ?? [];
  const solo = soloReview(dry, session.user.did, users);
  if (!solo.deadEnd) return true;
  const choice = await notify.warn(solo.message, { modal: true, detail: solo.detail }, SOLO_CHOICES.dispatch, SOLO_CHOICES.invite);
  if (choice === SOLO_CHOICES.invite) {
    const invite = await notify.info(
      'VaultysClaw: an owner or admin creates an invitation (VaultysClaw: Invite User, role reviewer) and sends its token; the reviewer runs VaultysClaw: Join Team Broker with Invitation with it in their own editor.',
      'Invite User…',
    );
    if (invite) await vscode.commands.executeCommand('vaultysclaw.inviteUser');
  }
  return choice === SOLO_CHOICES.dispatch;
}

/** The intent a Cancel Intent command acts on: an Activity row, an id, or one picked among those still in flight. */
async function intentToCancel(services: Services, arg: unknown): Promise<string | undefined> {
  const raw = typeof arg === 'string' ? arg : typeof (arg as { id?: unknown } | undefined)?.id === 'string' ? String((arg as { id: string }).id).replace(/^intent:/, '') : undefined;
  if (raw) return raw;
  const self = services.connection.session?.user.did;
  const open = services.model.intents().filter((i) => !FINAL_INTENT_STATES.includes(i.state) && (i.user === self || services.connection.session?.role === 'admin' || services.connection.session?.role === 'owner'));
  if (open.length === 0) {
    void notify.info('VaultysClaw: no intent of yours is in flight.');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    open.map((i) => ({ label: `${i.capability} ${toolSummary(i.capability, i.params)}`, description: `${i.state} · ${i.id.slice(0, 8)}`, id: i.id })),
    { title: 'Cancel an intent', placeHolder: 'Intent in flight' },
  );
  return picked?.id;
}

export function registerAgentCommands(services: Services): vscode.Disposable[] {
  const { model } = services;
  return [
    registerJsonDocuments(),
    command(services, 'vaultysclaw.dispatchIntent', async (arg) => {
      if (!(await services.connection.requireSession('dispatch an intent'))) return;
      const agent = await pickAgent(services, arg, (a) => a.status === 'approved' && a.online, 'Dispatch an intent to');
      if (!agent) return;
      const granted = agent.policy?.capabilities ?? [];
      if (granted.length === 0) {
        void notify.warn(`VaultysClaw: ${visibleText(agent.name)} has no capabilities granted.`);
        return;
      }
      const capability = (await vscode.window.showQuickPick(
        granted.map((c) => ({ label: c, description: agent.policy?.approvalRequired.includes(c) ? 'needs a reviewer' : '' })),
        { title: `Dispatch to ${visibleText(agent.name)}`, placeHolder: 'Capability' },
      ))?.label as Capability | undefined;
      if (!capability) return;
      const params = await askParams(capability, visibleText(agent.name));
      if (!params) return;
      const final = await dispatchAndWait(services, agent.did, capability, params, `VaultysClaw: ${capability} on ${visibleText(agent.name)}`);
      if (!final) return;
      const outcome = intentOutcome(final, Number.POSITIVE_INFINITY, Date.now());
      if (final.state === 'succeeded') void notify.info(inertLinks(`VaultysClaw: ${capability} on ${visibleText(agent.name)} succeeded.`));
      else void notify.warn(inertLinks(`VaultysClaw: ${capability} on ${visibleText(agent.name)} ${outcome}.`));
    }),

    command(services, 'vaultysclaw.approveRegistration', async (arg) => {
      const session = await services.connection.requireSession('approve a registration');
      if (!session) return;
      const agent = await pickAgent(services, arg, (a) => a.status === 'pending', 'Approve the registration of');
      if (!agent) return;
      const choice = await askPolicy(agent, 'Approve');
      if (!choice) return;
      const view = await session.call('registrationsApprove', { did: agent.did, policy: choice.policy, widen: choice.widen });
      model.noteAgent(view);
      void notify.info(`VaultysClaw: approved ${visibleText(view.name)} with ${view.policy?.capabilities.join(', ') || 'no capabilities'}.`);
    }),

    command(services, 'vaultysclaw.rejectRegistration', async (arg) => {
      const session = await services.connection.requireSession('reject a registration');
      if (!session) return;
      const agent = await pickAgent(services, arg, (a) => a.status === 'pending', 'Reject the registration of');
      if (!agent) return;
      const reason = await vscode.window.showInputBox({ title: `Reject ${visibleText(agent.name)}`, prompt: 'Why? (recorded in the audit log; rejection is permanent for this agent key)', validateInput: (v) => (v.trim() ? undefined : 'a reason is required'), ignoreFocusOut: true });
      if (!reason) return;
      model.noteAgent(await session.call('registrationsReject', { did: agent.did, reason: reason.trim() }));
    }),

    command(services, 'vaultysclaw.editPolicy', async (arg) => {
      const session = await services.connection.requireSession('edit a policy');
      if (!session) return;
      const agent = await pickAgent(services, arg, (a) => a.status === 'approved', 'Edit the policy of');
      if (!agent) return;
      const choice = await askPolicy(agent, 'Edit policy of');
      if (!choice) return;
      const view = await session.call('policySet', { did: agent.did, policy: choice.policy, widen: choice.widen });
      model.noteAgent(view);
      void notify.info(`VaultysClaw: ${visibleText(view.name)} now runs under policy v${view.policy?.policyVersion ?? '?'}${view.online ? '; it renews its certificate now' : '; it takes effect when it reconnects'}.`);
    }),

    command(services, 'vaultysclaw.revokeAgent', async (arg) => {
      const session = await services.connection.requireSession('revoke an agent');
      if (!session) return;
      const agent = await pickAgent(services, arg, (a) => a.status === 'approved' || a.status === 'pending', 'Revoke');
      if (!agent) return;
      const reason = await vscode.window.showInputBox({ title: `Revoke ${visibleText(agent.name)}`, prompt: 'Why? (recorded in the audit log)', validateInput: (v) => (v.trim() ? undefined : 'a reason is required'), ignoreFocusOut: true });
      if (!reason) return;
      const ok = await notify.warn(`Revoke ${visibleText(agent.name)}?`, { modal: true, detail: `${agent.did}\n\nIt is disconnected at once and refused from then on; this cannot be undone.` }, 'Revoke');
      if (ok !== 'Revoke') return;
      model.noteAgent(await session.call('agentsRevoke', { did: agent.did, reason: reason.trim() }));
      // What a revoke leaves the person to do is only known on the agent's machine: say it here, not only in a terminal.
      void notify.info(
        `VaultysClaw: ${visibleText(agent.name)} is revoked: it was disconnected and its key is refused from now on (the audit log keeps why). To enroll that machine again, give its agent a new key there (agent init with a new --state-dir) and approve the new registration; Remove from List clears this row.`,
      );
    }),

    command(services, 'vaultysclaw.cancelIntent', async (arg) => {
      const session = await services.connection.requireSession('cancel an intent');
      if (!session) return;
      const id = await intentToCancel(services, arg);
      if (!id) return;
      const known = model.intent(id);
      const what = known ? `${known.capability} ${toolSummary(known.capability, known.params)}` : `intent ${id.slice(0, 8)}`;
      const ok = await notify.warn(
        `Cancel ${what}?`,
        { modal: true, detail: 'The agent stops its tool (a running command is killed) or drops the call waiting for a reviewer; the intent ends cancelled.' },
        'Cancel Intent',
      );
      if (ok !== 'Cancel Intent') return;
      await cancelIntent(session, model, id);
      void notify.info(`VaultysClaw: ${what} cancelled.`);
    }),

    command(services, 'vaultysclaw.copyDid', async (arg) => {
      const did = didArgument(arg) ?? (await pickAgent(services, arg, () => true, 'Copy the DID of'))?.did;
      if (!did) return;
      await vscode.env.clipboard.writeText(did);
      void vscode.window.setStatusBarMessage(`VaultysClaw: copied ${did}`, 3000);
    }),
  ];
}
