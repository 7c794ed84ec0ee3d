import * as vscode from 'vscode';
import type { LiveModel } from './model/live-model';
import type { BrokerState } from './connection/supervisor';
import { statusText } from './model/status-summary';

export function createStatusBar(): vscode.StatusBarItem {
  const item = vscode.window.createStatusBarItem('vaultysclaw.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'VaultysClaw';
  item.command = 'vaultysclaw.approvals.focus';
  item.show();
  return item;
}

export function updateStatusBar(item: vscode.StatusBarItem, state: BrokerState, model: LiveModel): void {
  const { text, tooltip, warning } = statusText(state, model);
  item.text = text;
  item.tooltip = tooltip;
  item.backgroundColor = warning ? new vscode.ThemeColor(state.kind === 'disconnected' ? 'statusBarItem.errorBackground' : 'statusBarItem.warningBackground') : undefined;
  item.accessibilityInformation = { label: tooltip.split('\n').join('. ') };
}
