import * as vscode from 'vscode';
import { contentSources, type OpenDocument } from '../intent-params';
import { command, type Services } from './services';
import { notify } from '../notify';

const WRITING = 'vaultysclaw.writingContent';

/** The editor the user is typing a write's content in, and how to hand its text back (undefined: cancelled). */
let writing: { uri: string; finish: (text: string | undefined, closeFirst?: () => Promise<void>) => Promise<void> } | undefined;

/** Every open text tab, most recent group first: what "a chosen open file" may be. */
function openDocuments(): OpenDocument[] {
  const docs = new Map(vscode.workspace.textDocuments.map((d) => [d.uri.toString(), d]));
  return vscode.window.tabGroups.all
    .flatMap((g) => g.tabs)
    .flatMap((tab) => {
      const uri = tab.input instanceof vscode.TabInputText ? tab.input.uri : undefined;
      const doc = uri && docs.get(uri.toString());
      return uri && doc ? [{ uri: uri.toString(), scheme: uri.scheme, languageId: doc.languageId, label: uri.scheme === 'file' ? vscode.workspace.asRelativePath(uri) : tab.label }] : [];
    });
}

/**
 * A multi-line answer (write_file content, a task's instruction): typed in a new editor (first, the default) or taken
 * from an open file the user picks by name. Never a single-line box, never "whatever editor is active".
 */
export async function askContent(title: string, prompt: string): Promise<string | undefined> {
  const files = contentSources(openDocuments());
  const NEW = 'new';
  const picked = await vscode.window.showQuickPick(
    [
      { label: '$(new-file) Type it in a new editor', detail: 'An empty editor opens; type, then run Write to Agent from its title bar (or close it).', uri: NEW },
      ...files.map((f) => ({ label: `$(file) ${f.label}`, description: f.scheme === 'untitled' ? 'unsaved editor' : 'open file', detail: 'Its current text, as shown in the editor', uri: f.uri })),
    ],
    { title, placeHolder: prompt, ignoreFocusOut: true },
  );
  if (!picked) return undefined;
  if (picked.uri !== NEW) return vscode.workspace.textDocuments.find((d) => d.uri.toString() === picked.uri)?.getText();
  return typeInNewEditor(title);
}

/** Opens an empty editor and waits for Write to Agent, its closing (or saving), or Cancel. */
async function typeInNewEditor(title: string): Promise<string | undefined> {
  void writing?.finish(undefined);
  const doc = await vscode.workspace.openTextDocument({ content: '', language: 'plaintext' });
  await vscode.window.showTextDocument(doc, { preview: false });
  const uri = doc.uri.toString();
  let latest = '';
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `${title}: type the content in the new editor, then run Write to Agent from its title bar (or close it)`, cancellable: true },
    (_progress, token) =>
      new Promise<string | undefined>((resolve) => {
        const subs: vscode.Disposable[] = [];
        let done = false;
        // Listeners go first, so closing the editor here is not heard as the user closing it; the next question
        // (a quick pick) opens only once the editor is gone, so closing it cannot take the focus from that question.
        const finish = async (text: string | undefined, closeFirst?: () => Promise<void>) => {
          if (done) return;
          done = true;
          if (writing?.uri === uri) writing = undefined;
          void vscode.commands.executeCommand('setContext', WRITING, false);
          for (const s of subs.splice(0)) s.dispose();
          await closeFirst?.().catch(() => undefined);
          resolve(text);
        };
        writing = { uri, finish };
        void vscode.commands.executeCommand('setContext', WRITING, true);
        subs.push(
          token.onCancellationRequested(() => void finish(undefined)),
          vscode.workspace.onDidChangeTextDocument((e) => {
            if (e.document.uri.toString() === uri) latest = e.document.getText();
          }),
          // Closing (Save As closes the untitled editor too) means done; an editor closed empty means nothing to write.
          vscode.workspace.onDidCloseTextDocument((closed) => {
            if (closed.uri.toString() === uri) void finish(latest === '' ? undefined : latest);
          }),
        );
      }),
  );
}

/** Write to Agent and Cancel, on the content editor's title bar and in the palette while one is open. */
export function registerContentSource(services: Services): vscode.Disposable {
  const current = (arg: unknown) => {
    // From the title bar the argument is the editor's resource: only the content editor of the write in progress counts.
    if (!writing || (arg instanceof vscode.Uri && arg.toString() !== writing.uri)) {
      void notify.info('VaultysClaw: this is not the editor of a write in progress.');
      return undefined;
    }
    return writing;
  };
  const close = async (uri: string) => {
    const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri);
    // Reverted first, so closing asks nothing about saving text that was just handed to the agent.
    if (editor) {
      await vscode.window.showTextDocument(editor.document, editor.viewColumn);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    }
  };
  return vscode.Disposable.from(
    command(services, 'vaultysclaw.writeToAgent', async (arg) => {
      const w = current(arg);
      if (!w) return;
      const text = vscode.workspace.textDocuments.find((d) => d.uri.toString() === w.uri)?.getText() ?? '';
      await w.finish(text, () => close(w.uri));
    }),
    command(services, 'vaultysclaw.cancelWrite', async (arg) => {
      const w = current(arg);
      if (!w) return;
      await w.finish(undefined, () => close(w.uri));
    }),
  );
}
