import * as vscode from 'vscode';
import type { Capability } from '../../core/wire/policy';
import { buildParams, checkAnswer, PARAM_FIELDS } from '../intent-params';
import { askContent } from './content-source';
import { notify } from '../notify';

/** Asks for an intent's params one field at a time (Dispatch Intent, Test Policy); undefined if cancelled or invalid. */
export async function askParams(capability: Capability, agentName: string): Promise<Record<string, unknown> | undefined> {
  const fields = PARAM_FIELDS[capability];
  const answers: Record<string, string> = {};
  for (const [i, field] of fields.entries()) {
    const title = `${capability} on ${agentName} (${i + 1}/${fields.length})`;
    if (field.choices) {
      const choice = await vscode.window.showQuickPick([...field.choices], { title, placeHolder: field.prompt, ignoreFocusOut: true });
      if (choice === undefined) return undefined;
      answers[field.name] = choice;
      continue;
    }
    if (field.multiline) {
      const text = await askContent(title, field.prompt);
      if (text === undefined) return undefined;
      answers[field.name] = text;
      continue;
    }
    const value = await vscode.window.showInputBox({
      title,
      prompt: field.prompt,
      placeHolder: field.placeholder,
      value: field.defaultValue,
      ignoreFocusOut: true,
      validateInput: (v) => checkAnswer(capability, field.name, v),
    });
    if (value === undefined) return undefined;
    answers[field.name] = value;
  }
  const built = buildParams(capability, answers);
  if (!built.ok) {
    void notify.error(`VaultysClaw: ${built.problem}`);
    return undefined;
  }
  return built.params;
}
