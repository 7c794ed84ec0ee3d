import * as vscode from 'vscode';
import { IntentId } from '../../core/wire/common';
import { command, type Services } from '../commands/services';
import { intentOfResultUri } from './result-documents';
import { ResultPanel } from './result-panel';
import { notify } from '../notify';

/** An intent id from a command's argument: an id, an Activity row (`intent:<id>`), a result document's URI, or the panel's intent. */
function intentArgument(arg: unknown, panel: ResultPanel): string | undefined {
  const raw = arg instanceof vscode.Uri ? intentOfResultUri(arg) : typeof arg === 'string' ? arg : (arg as { id?: unknown } | undefined)?.id;
  const id = typeof raw === 'string' ? raw.replace(/^intent:/, '') : undefined;
  if (id && IntentId.safeParse(id).success) return id;
  return intentOfResultUri(vscode.window.activeTextEditor?.document.uri ?? vscode.Uri.parse('untitled:')) ?? panel.intentId;
}

/** The result view and its commands: Show Result (dispatch and the Activity view), Show Signed Envelope, Verify. */
export function registerResultView(services: Services, extensionUri: vscode.Uri): vscode.Disposable[] {
  const panel = new ResultPanel(extensionUri, services.connection, services.model, services.log);
  return [
    panel,
    command(services, 'vaultysclaw.showResult', async (arg, options) => {
      const id = intentArgument(arg, panel);
      if (id) await panel.show(id, { preserveFocus: (options as { preserveFocus?: boolean } | undefined)?.preserveFocus === true });
    }),
    command(services, 'vaultysclaw.showSignedEnvelope', async (arg) => {
      const id = intentArgument(arg, panel);
      if (id) await panel.showEnvelope(id);
      else void notify.info('VaultysClaw: open a result first (click an intent in the Activity view).');
    }),
    command(services, 'vaultysclaw.verifyResult', async (arg) => {
      const id = intentArgument(arg, panel);
      if (id) await panel.verify(id);
      else void notify.info('VaultysClaw: open a result first (click an intent in the Activity view).');
    }),
  ];
}
