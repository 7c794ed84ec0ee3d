import type * as vscode from 'vscode';
import type { BrokerState, BrokerSupervisor } from './connection/supervisor';
import type { TreeNode } from './model/tree-node';

/** One view as the person sees it: its rows, through the real TreeDataProvider, and the message above them. */
export interface ViewSurface {
  provider: vscode.TreeDataProvider<TreeNode>;
  view: Readonly<Pick<vscode.TreeView<TreeNode>, 'message' | 'badge'>>;
}

/** A broker state without the live connection inside it. */
export type BrokerStateSummary =
  | { kind: 'stopped' | 'connected' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'disconnected'; reason: string; attempt: number; retryInMs: number | null };

/**
 * What activate() returns: read-only handles on what the person sees, for the
 * extension-host tests, since no vscode API reads another extension's tree
 * rows or status bar item. Tests still act only as a person does: commands
 * and settings.
 */
export interface VaultysClawSurface {
  views: { agents: ViewSurface; approvals: ViewSurface; activity: ViewSurface };
  statusBar: Readonly<Pick<vscode.StatusBarItem, 'text' | 'tooltip'>>;
  brokerState(): BrokerStateSummary;
  onDidChangeBrokerState(listener: (state: BrokerStateSummary) => void): vscode.Disposable;
}

export function summarizeState(state: BrokerState): BrokerStateSummary {
  switch (state.kind) {
    case 'stopped':
    case 'connected':
      return { kind: state.kind };
    case 'connecting':
      return { kind: 'connecting', attempt: state.attempt };
    case 'disconnected':
      return { kind: 'disconnected', reason: state.reason, attempt: state.attempt, retryInMs: state.retryInMs };
  }
}

export function brokerStateSurface(supervisor: BrokerSupervisor): Pick<VaultysClawSurface, 'brokerState' | 'onDidChangeBrokerState'> {
  return {
    brokerState: () => summarizeState(supervisor.state),
    onDidChangeBrokerState: (listener) => supervisor.onDidChangeState((state) => listener(summarizeState(state))),
  };
}
