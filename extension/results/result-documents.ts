import * as vscode from 'vscode';

export const RESULT_SCHEME = 'vaultysclaw-result';

/** The intent a result document belongs to: its path is /<intent id>/<file name>. */
export function intentOfResultUri(uri: vscode.Uri): string | undefined {
  if (uri.scheme !== RESULT_SCHEME) return undefined;
  return /^\/([0-9a-f]{32})\//.exec(uri.path)?.[1];
}

/**
 * Read-only documents of results (`vaultysclaw-result:/<intent id>/<file name>`): the workbench picks the
 * language from the name's extension, as for a file on disk, and needs no saving. Opened as a preview, so the
 * next one takes the same tab instead of adding another.
 */
export class ResultDocuments {
  readonly #content = new Map<string, string>();
  readonly #changed = new vscode.EventEmitter<vscode.Uri>();

  register(): vscode.Disposable {
    return vscode.Disposable.from(
      this.#changed,
      vscode.workspace.registerTextDocumentContentProvider(RESULT_SCHEME, { onDidChange: this.#changed.event, provideTextDocumentContent: (uri) => this.#content.get(uri.toString()) ?? '' }),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        if (doc.uri.scheme === RESULT_SCHEME) this.#content.delete(doc.uri.toString());
      }),
    );
  }

  async open(intentId: string, fileName: string, content: string, options: { viewColumn?: vscode.ViewColumn; preserveFocus?: boolean } = {}): Promise<vscode.TextEditor> {
    // The name is the agent's: only what is safe in a path segment is kept, the extension (and so the language) with it.
    const uri = vscode.Uri.from({ scheme: RESULT_SCHEME, path: `/${intentId}/${fileName.replace(/[^A-Za-z0-9._-]/g, '-') || 'file'}` });
    this.#content.set(uri.toString(), content);
    this.#changed.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    return vscode.window.showTextDocument(doc, { preview: true, viewColumn: options.viewColumn, preserveFocus: options.preserveFocus });
  }
}
