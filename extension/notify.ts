import * as vscode from 'vscode';
import { inertLinks } from './model/notification-text';

/**
 * Every notification the extension shows, its message made link-inert: VS Code renders `[label](command:…)` in a
 * notification as a link that runs the command, and our messages carry text others wrote (agent and user names,
 * paths, a broker's or an agent's refusal, a command's output). A message that means to link is written with
 * inertLinks on each untrusted piece instead (approval/review-notifier.ts). The lint rule in eslint.config.mjs
 * keeps the window's own methods out of the rest of the extension.
 */
export const notify = {
  info: ((message: string, ...rest: never[]) => vscode.window.showInformationMessage(inertLinks(message), ...rest)) as typeof vscode.window.showInformationMessage,
  warn: ((message: string, ...rest: never[]) => vscode.window.showWarningMessage(inertLinks(message), ...rest)) as typeof vscode.window.showWarningMessage,
  error: ((message: string, ...rest: never[]) => vscode.window.showErrorMessage(inertLinks(message), ...rest)) as typeof vscode.window.showErrorMessage,
};
