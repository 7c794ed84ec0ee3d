import * as vscode from 'vscode';
import { refreshAges, type TreeNode } from '../model/tree-node';

/**
 * A tree view over plain TreeNodes (extension/model). It rebuilds only when
 * told to, which main.ts does on broker notifications, never on a timer; a
 * timer only brings the age words of its rows up to date (refreshAges).
 */
export class NodeTreeProvider implements vscode.TreeDataProvider<TreeNode> {
  readonly #changed = new vscode.EventEmitter<TreeNode | TreeNode[] | undefined>();
  readonly onDidChangeTreeData = this.#changed.event;
  #roots: TreeNode[] = [];

  constructor(private readonly build: () => TreeNode[]) {}

  refresh(): void {
    this.#roots = this.build();
    this.#changed.fire(undefined);
  }

  /** Repaints only the rows whose age words changed since they were built (no rebuild, nothing asked of the broker). */
  refreshAges(now: number): void {
    const changed = refreshAges(this.#roots, now);
    if (changed.length) this.#changed.fire(changed);
  }

  get roots(): readonly TreeNode[] {
    return this.#roots;
  }

  getChildren(element?: TreeNode): TreeNode[] {
    return element ? (element.children ?? []) : this.#roots;
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    const state =
      node.collapsible === 'none'
        ? vscode.TreeItemCollapsibleState.None
        : node.collapsible === 'expanded'
          ? vscode.TreeItemCollapsibleState.Expanded
          : vscode.TreeItemCollapsibleState.Collapsed;
    const item = new vscode.TreeItem(node.label, state);
    item.id = node.id;
    if (node.description !== undefined) item.description = node.description;
    if (node.tooltip !== undefined) item.tooltip = new vscode.MarkdownString(node.tooltip);
    if (node.contextValue !== undefined) item.contextValue = node.contextValue;
    if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon.id, node.icon.color ? new vscode.ThemeColor(node.icon.color) : undefined);
    if (node.command) item.command = { command: node.command.id, title: node.command.title, arguments: node.command.args };
    return item;
  }

  dispose(): void {
    this.#changed.dispose();
  }
}
