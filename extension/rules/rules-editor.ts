import { isDeepStrictEqual } from 'node:util';
import * as vscode from 'vscode';
import type { AgentView } from '../../core/rpc/views';
import { visibleText } from '../../core/text/untrusted-text';
import { describeRpcError } from '../connection/broker-session';
import { command, pickAgent, type Services } from '../commands/services';
import { agentOfRulesFile, policyWithRules, problemRange, readRulesText, refusalPath, rulesDocumentText, rulesFileName, RULES_FILE_SUFFIX, type DocumentProblem } from './rules-document';
import { notify } from '../notify';

/**
 * The rule editor: a JSONC file per agent in the extension's global storage, opened in a normal editor (the JSON
 * language service gives completion and validation from the schema package.json's jsonValidation names), applied
 * on save through policy/set. A real file because saving it always succeeds: what was typed is on disk whatever
 * the broker says, and a refusal only adds diagnostics pointing at the rule; nothing is lost when the editor
 * closes or the window reloads, and the draft is opened again instead of the agent's rules.
 */
export function registerRulesEditor(services: Services, storage: vscode.Uri): vscode.Disposable[] {
  const dir = vscode.Uri.joinPath(storage, 'rules');
  const diagnostics = vscode.languages.createDiagnosticCollection('vaultysclaw-rules');
  /** One apply at a time per document: a second save waits for the first answer. */
  const applying = new Map<string, Promise<void>>();

  const isRulesDocument = (doc: vscode.TextDocument) =>
    doc.uri.scheme === dir.scheme && doc.uri.path.startsWith(`${dir.path}/`) && doc.uri.path.endsWith(RULES_FILE_SUFFIX);

  const show = (doc: vscode.TextDocument, problems: DocumentProblem[], prefix: string) => {
    const text = doc.getText();
    diagnostics.set(
      doc.uri,
      problems.map((p) => {
        const r = problemRange(text, p);
        const d = new vscode.Diagnostic(new vscode.Range(doc.positionAt(r.offset), doc.positionAt(r.offset + r.length)), `${prefix}${p.message}`, vscode.DiagnosticSeverity.Error);
        d.source = 'VaultysClaw';
        return d;
      }),
    );
  };

  async function apply(doc: vscode.TextDocument): Promise<void> {
    const did = agentOfRulesFile(doc.uri.path.slice(doc.uri.path.lastIndexOf('/') + 1));
    if (!did) return;
    const session = await services.connection.requireSession('apply the policy rules');
    if (!session) return;
    const agent = await session.call('agentsGet', { did });
    if (!agent.policy) {
      void notify.error(`VaultysClaw: ${visibleText(agent.name)} has no policy to add rules to (it is ${agent.status}).`);
      return;
    }
    const read = readRulesText(doc.getText());
    if (!read.ok) {
      show(doc, read.problems, 'Not applied: ');
      void notify.warn(`VaultysClaw: the rules of ${visibleText(agent.name)} were not applied: ${read.problems[0]!.message}. Your text is saved; fix it and save again.`);
      return;
    }
    const input = policyWithRules(agent.policy, read.rules, Date.now());
    if (!input.ok) {
      show(doc, [{ message: input.problem, path: [] }], 'Not applied: ');
      void notify.warn(`VaultysClaw: ${input.problem}.`);
      return;
    }
    let view: AgentView;
    try {
      view = await session.call('policySet', { did, policy: input.policy, widen: false });
    } catch (err) {
      const message = describeRpcError(err);
      show(doc, [{ message, path: refusalPath(message) }], 'The broker refused the rules: ');
      void notify.warn(`VaultysClaw: the broker refused the rules of ${visibleText(agent.name)}: ${message}. Your text is saved; fix it and save again.`);
      return;
    }
    services.model.noteAgent(view);
    diagnostics.delete(doc.uri);
    const count = Object.values(read.rules).reduce((n, c) => n + (c?.rules.length ?? 0), 0);
    void notify.info(
      `VaultysClaw: ${visibleText(view.name)} now runs under policy v${view.policy?.policyVersion ?? '?'} with ${count} rule${count === 1 ? '' : 's'}${view.online ? '; it renews its certificate now' : '; it takes effect when it reconnects'}.`,
    );
  }

  async function open(arg: unknown): Promise<void> {
    const agent = await pickAgent(services, arg, (a) => a.status === 'approved' && a.policy !== null, 'Edit the policy rules of');
    if (!agent?.policy) return;
    const uri = vscode.Uri.joinPath(dir, rulesFileName(agent));
    const fresh = rulesDocumentText(agent, agent.policy);
    const openDoc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    // A text that differs from the agent's rules is what somebody typed and did not get applied: it is kept.
    const current = openDoc?.getText() ?? (await readFileText(uri));
    const draft = current !== undefined && current !== fresh && !sameRules(current, agent);
    if (!openDoc && !draft) {
      await vscode.workspace.fs.createDirectory(dir);
      await vscode.workspace.fs.writeFile(uri, Buffer.from(fresh, 'utf8'));
    }
    const doc = openDoc ?? (await vscode.workspace.openTextDocument(uri));
    await vscode.window.showTextDocument(doc, { preview: false });
    if (draft) {
      const replace = 'Replace with Current Rules';
      // Not awaited: the command ends with the editor shown, the offer stays until answered.
      void notify.info(`VaultysClaw: this is your draft of ${visibleText(agent.name)}'s rules, which differs from its current policy v${agent.policy.policyVersion}. Save it to apply it.`, replace)
        .then(async (choice) => {
          if (choice !== replace) return;
          const edit = new vscode.WorkspaceEdit();
          edit.replace(doc.uri, new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length)), fresh);
          await vscode.workspace.applyEdit(edit);
        });
    }
  }

  return [
    diagnostics,
    vscode.workspace.onDidSaveTextDocument((doc) => {
      if (!isRulesDocument(doc)) return;
      const key = doc.uri.toString();
      // Never throws out of the event: a failure is a message, and the text stays saved.
      const next = (applying.get(key) ?? Promise.resolve())
        .then(() => apply(doc))
        .catch((err: unknown) => {
          services.log.error(`applying ${doc.uri.fsPath}: ${describeRpcError(err)}`);
          void notify.error(`VaultysClaw: the rules were not applied: ${describeRpcError(err)}`);
        });
      applying.set(key, next);
      void next.finally(() => {
        if (applying.get(key) === next) applying.delete(key);
      });
    }),
    command(services, 'vaultysclaw.editRules', open),
  ];
}

async function readFileText(uri: vscode.Uri): Promise<string | undefined> {
  try {
    return Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
  } catch {
    return undefined;
  }
}

/** Whether a text on disk already says what the agent's policy says (then it is refreshed, not kept as a draft). */
function sameRules(text: string, agent: AgentView): boolean {
  const read = readRulesText(text);
  return read.ok && isDeepStrictEqual(read.rules, agent.policy?.rules ?? undefined);
}
