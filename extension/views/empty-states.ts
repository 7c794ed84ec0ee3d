import * as vscode from 'vscode';
import type { BrokerSupervisor } from '../connection/supervisor';
import { awaitedAgents, EXPECTED_AGENT_GRACE_MS } from '../model/agents-tree';
import type { LiveModel } from '../model/live-model';
import { AgeTicker } from './age-refresh';
import type { NodeTreeProvider } from './node-tree-provider';

/**
 * The context keys the views' welcome texts and buttons read (package.json viewsWelcome, menus), so an empty view says
 * what is true: "Connecting…" while the model loads or while an agent the demo started is on its way, not "No agents
 * yet"; no Dispatch button while no agent is online. Also keeps the rows' ages true while a view is visible.
 */
export function trackEmptyStates(model: LiveModel, supervisor: BrokerSupervisor, providers: readonly NodeTreeProvider[], views: readonly vscode.TreeView<unknown>[]): vscode.Disposable[] {
  const set = (key: string, value: unknown) => void vscode.commands.executeCommand('setContext', key, value);
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  const update = () => {
    const state = supervisor.state;
    set('vaultysclaw.loaded', model.connected && model.loaded);
    set('vaultysclaw.agentOnline', model.agents().some((a) => a.status === 'approved' && a.online));
    const expected = vscode.workspace.getConfiguration('vaultysclaw').get<string[]>('expectedAgents') ?? [];
    const awaited = state.kind === 'connected' && model.loaded ? awaitedAgents(expected, model.agents(), state.since, Date.now()) : [];
    set('vaultysclaw.awaitingAgent', awaited.length > 0);
    // Once the grace period ends the view offers enrolment: look again then, since no broker event may come.
    if (graceTimer) clearTimeout(graceTimer);
    graceTimer = awaited.length && state.kind === 'connected' ? setTimeout(update, Math.max(0, state.since + EXPECTED_AGENT_GRACE_MS - Date.now()) + 1000) : undefined;
  };
  const ticker = new AgeTicker(() => {
    const now = Date.now();
    for (const p of providers) p.refreshAges(now);
  });
  views.forEach((view, i) => ticker.setVisible(String(i), view.visible));
  update();
  return [
    model.onDidChange(update),
    supervisor.onDidChangeState(update),
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('vaultysclaw.expectedAgents') && update()),
    ...views.map((view, i) => view.onDidChangeVisibility((e) => ticker.setVisible(String(i), e.visible))),
    ticker,
    { dispose: () => graceTimer && clearTimeout(graceTimer) },
  ];
}
