import * as vscode from 'vscode';
import { ApprovalPanels } from './approval/approval-panel';
import { registerAdminCommands } from './commands/admin-commands';
import { registerAgentCommands } from './commands/agent-commands';
import { registerBrokerCommands } from './commands/broker-commands';
import { command, type Services } from './commands/services';
import { BrokerConnection, readSettings } from './connection/broker-connection';
import { UserIdentityStore } from './identity/user-identity-store';
import { activityTree } from './model/activity-tree';
import { agentsTree } from './model/agents-tree';
import { registerContentSource } from './commands/content-source';
import { trackEmptyStates } from './views/empty-states';
import { approvalsTree, OPEN_APPROVAL_COMMAND } from './model/approvals-tree';
import { LiveModel } from './model/live-model';
import { count } from './model/tree-node';
import { createStatusBar, updateStatusBar } from './status-bar';
import { brokerStateSurface, type VaultysClawSurface } from './surface';
import { NodeTreeProvider } from './views/node-tree-provider';
import { registerRulesEditor } from './rules/rules-editor';
import { registerTestPolicy } from './rules/test-policy';
import { IntentId } from '../core/wire/common';
import { registerApprovalCommands } from './approval/approval-commands';
import { ReviewNotifier } from './approval/review-notifier';
import { registerResultView } from './results/register';
import { registerLanguageModelTools } from './lm/register-tools';
import { registerApprovalLinkHandler } from './approval/approval-link-handler';

let connection: BrokerConnection | undefined;

/** Wires the extension together; each part's logic lives in its own module. */
export function activate(context: vscode.ExtensionContext): VaultysClawSurface {
  const log = vscode.window.createOutputChannel('VaultysClaw', { log: true });
  const brokerLog = vscode.window.createOutputChannel('VaultysClaw Broker', { log: true });
  const model = new LiveModel((message) => log.warn(message));
  const identities = new UserIdentityStore(context.secrets, log);
  connection = new BrokerConnection(context, model, identities, log, brokerLog);
  const panels = new ApprovalPanels(context.extensionUri, connection, model, log);
  const services: Services = { connection, model, log, extensionPath: context.extensionPath };
  const live = connection;

  const names = { agent: (did: string) => model.agent(did), user: (did: string) => model.user(did) };
  // Display only, so read on each build: a change applies at once, without reconnecting.
  const stalenessMs = () => {
    const check = readSettings();
    return check.ok ? check.settings.stalenessMs : (live.settings?.stalenessMs ?? 300_000);
  };
  const agents = new NodeTreeProvider(() => (model.connected ? agentsTree(model.agents(), Date.now()) : []));
  const approvals = new NodeTreeProvider(() => (model.connected ? approvalsTree(model.approvals(), names, Date.now()) : []));
  const activity = new NodeTreeProvider(() => (model.connected ? activityTree(model.intents(), { names, approvals: model.approvals(), users: model.users(), stalenessMs: stalenessMs(), now: Date.now() }) : []));
  const agentsView = vscode.window.createTreeView('vaultysclaw.agents', { treeDataProvider: agents, showCollapseAll: true });
  const approvalsView = vscode.window.createTreeView('vaultysclaw.approvals', { treeDataProvider: approvals });
  const activityView = vscode.window.createTreeView('vaultysclaw.activity', { treeDataProvider: activity });
  const status = createStatusBar();

  const render = (parts: ReadonlySet<string>) => {
    const message = model.connected ? (model.loaded ? undefined : 'Loading from the broker…') : `Disconnected: ${model.disconnectedReason ?? 'not connected'}`;
    for (const view of [agentsView, approvalsView, activityView]) view.message = message;
    const all = parts.has('connection');
    if (all || parts.has('agents')) agents.refresh();
    if (all || parts.has('approvals') || parts.has('agents') || parts.has('users')) approvals.refresh();
    if (all || parts.has('intents') || parts.has('approvals') || parts.has('agents') || parts.has('users')) activity.refresh();
    const pending = model.pendingApprovals().length;
    approvalsView.badge = pending ? { value: pending, tooltip: `${count(pending, 'tool call')} waiting for a reviewer` } : undefined;
    const registrations = model.agents().filter((a) => a.status === 'pending').length;
    agentsView.badge = registrations ? { value: registrations, tooltip: `${count(registrations, 'agent')} waiting for approval` } : undefined;
    updateStatusBar(status, live.supervisor.state, model);
  };

  context.subscriptions.push(
    log,
    brokerLog,
    connection,
    panels,
    agents,
    approvals,
    activity,
    agentsView,
    approvalsView,
    activityView,
    status,
    model.onDidChange(render),
    connection.supervisor.onDidChangeState((state) => {
      updateStatusBar(status, state, model);
      render(new Set(['connection']));
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('vaultysclaw.stalenessWindow')) activity.refresh();
    }),
    identities.onDidChange(() => {
      void identities.load().then((identity) => {
        if (live.session && live.session.user.did !== identity.did) void live.restart();
      });
    }),
    ...registerAgentCommands(services),
    ...registerAdminCommands(services),
    ...registerBrokerCommands(services),
    ...registerRulesEditor(services, context.globalStorageUri),
    registerContentSource(services),
    ...trackEmptyStates(model, live.supervisor, [agents, approvals, activity], [agentsView, approvalsView, activityView]),
    registerTestPolicy(services),
    command(services, OPEN_APPROVAL_COMMAND, async (arg) => {
      const requestId = typeof arg === 'string' ? arg : String((arg as { id?: string } | undefined)?.id ?? '').replace(/^approval:/, '');
      if (IntentId.safeParse(requestId).success) await panels.open(requestId);
    }),
    new ReviewNotifier(model, connection, panels),
    ...registerApprovalCommands(services),
  );
  // The one reused result view (issue 17): dispatches and Activity rows open it.
  context.subscriptions.push(...registerResultView(services, context.extensionUri));
  // The editor's AI dispatches through the same session and gates (issue 18).
  context.subscriptions.push(...registerLanguageModelTools(services));
  // Deep links from webhook notifications (issue 21): vscode://vaultysclaw.vaultysclaw/approval?id=… opens the panel.
  context.subscriptions.push(registerApprovalLinkHandler(services, panels));
  render(new Set(['connection']));
  connection.start();
  return {
    views: {
      agents: { provider: agents, view: agentsView },
      approvals: { provider: approvals, view: approvalsView },
      activity: { provider: activity, view: activityView },
    },
    statusBar: status,
    ...brokerStateSurface(connection.supervisor),
  };
}

/** Stops the broker the extension started (its language client sends shutdown and exit). */
export async function deactivate(): Promise<void> {
  await connection?.supervisor.stop();
  connection = undefined;
}
