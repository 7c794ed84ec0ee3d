import * as vscode from 'vscode';
import { visibleJson, visibleText } from '../../core/text/untrusted-text';
import type { IntentDetail } from '../../core/rpc/views';
import { FINAL_INTENT_STATES } from '../../core/rpc/views';
import type { Capability } from '../../core/wire/policy';
import { intentOutcome } from '../model/activity-tree';
import { askParams } from './ask-params';
import { askPolicy } from './policy-picker';
import { command, didArgument, pickAgent, type Services } from './services';

/** How long Dispatch Intent waits for the agent's signed result. */
const DISPATCH_WAIT_MS = 10 * 60_000;

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
 * Sends an intent and waits for its final state, with progress and cancel.
 * Cancel stops waiting; the broker has no way to call an intent back, so it
 * says so.
 */
export async function dispatchAndWait(services: Services, agent: string, capability: Capability, params: Record<string, unknown>, title: string): Promise<IntentDetail | undefined> {
  const session = await services.connection.requireSession('dispatch an intent');
  if (!session) return undefined;
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
    progress.report({ message: 'signing and sending…' });
    const sent = await session.call('intentsDispatch', { agent, capability, params });
    services.model.noteIntent(sent);
    void vscode.commands.executeCommand('vaultysclaw.showResult', sent.id, { preserveFocus: true });
    // The output comes with the intent's detail, once it is final: notifications carry summaries only.
    if (FINAL_INTENT_STATES.includes(sent.state)) return session.call('intentsGet', { id: sent.id });
    progress.report({ message: `intent ${sent.id.slice(0, 8)} ${sent.state}; waiting for the agent's signed result…` });
    const abort = new AbortController();
    const cancel = token.onCancellationRequested(() => abort.abort());
    const progressSub = services.model.onIntentProgress((p) => {
      if (p.intentId === sent.id) progress.report({ message: p.text.trim().slice(0, 120) });
    });
    try {
      await services.model.waitForFinal(sent.id, { timeoutMs: DISPATCH_WAIT_MS, signal: abort.signal });
      return await session.call('intentsGet', { id: sent.id });
    } catch (err) {
      if (abort.signal.aborted) {
        void vscode.window.showInformationMessage(`VaultysClaw: stopped waiting for intent ${sent.id.slice(0, 8)}; it keeps running on the agent, and the Activity view shows how it ends.`);
        return undefined;
      }
      throw err;
    } finally {
      cancel.dispose();
      progressSub.dispose();
    }
  });
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
        void vscode.window.showWarningMessage(`VaultysClaw: ${visibleText(agent.name)} has no capabilities granted.`);
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
      if (final.state === 'succeeded') void vscode.window.showInformationMessage(`VaultysClaw: ${capability} on ${visibleText(agent.name)} succeeded.`);
      else void vscode.window.showWarningMessage(`VaultysClaw: ${capability} on ${visibleText(agent.name)} ${outcome}.`);
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
      void vscode.window.showInformationMessage(`VaultysClaw: approved ${visibleText(view.name)} with ${view.policy?.capabilities.join(', ') || 'no capabilities'}.`);
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
      void vscode.window.showInformationMessage(`VaultysClaw: ${visibleText(view.name)} now runs under policy v${view.policy?.policyVersion ?? '?'}${view.online ? '; it renews its certificate now' : '; it takes effect when it reconnects'}.`);
    }),

    command(services, 'vaultysclaw.revokeAgent', async (arg) => {
      const session = await services.connection.requireSession('revoke an agent');
      if (!session) return;
      const agent = await pickAgent(services, arg, (a) => a.status === 'approved' || a.status === 'pending', 'Revoke');
      if (!agent) return;
      const reason = await vscode.window.showInputBox({ title: `Revoke ${visibleText(agent.name)}`, prompt: 'Why? (recorded in the audit log)', validateInput: (v) => (v.trim() ? undefined : 'a reason is required'), ignoreFocusOut: true });
      if (!reason) return;
      const ok = await vscode.window.showWarningMessage(`Revoke ${visibleText(agent.name)}?`, { modal: true, detail: `${agent.did}\n\nIt is disconnected at once and refused from then on; this cannot be undone.` }, 'Revoke');
      if (ok !== 'Revoke') return;
      model.noteAgent(await session.call('agentsRevoke', { did: agent.did, reason: reason.trim() }));
    }),

    command(services, 'vaultysclaw.copyDid', async (arg) => {
      const did = didArgument(arg) ?? (await pickAgent(services, arg, () => true, 'Copy the DID of'))?.did;
      if (!did) return;
      await vscode.env.clipboard.writeText(did);
      void vscode.window.setStatusBarMessage(`VaultysClaw: copied ${did}`, 3000);
    }),
  ];
}
