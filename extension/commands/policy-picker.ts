import * as vscode from 'vscode';
import { visibleText } from '../../core/text/untrusted-text';
import type { AgentView, PolicyInput } from '../../core/rpc/views';
import { CAPABILITIES, type Capability } from '../../core/wire/policy';
import { checkCount, checkDays, initialCapabilities, policyFromAnswers, widening } from '../policy-choice';

/**
 * Asks an admin for an agent's policy: capabilities (at most what it asked
 * for unless widening is confirmed), which of them need a reviewer, and the
 * limits. Undefined if they cancel at any step.
 */
export async function askPolicy(agent: AgentView, verb: string): Promise<{ policy: PolicyInput; widen: boolean } | undefined> {
  const steps = 5;
  const title = (n: number) => `${verb} ${visibleText(agent.name)} (${n}/${steps})`;
  const initial = initialCapabilities(agent);
  const caps = await vscode.window.showQuickPick(
    CAPABILITIES.map((c) => ({
      label: c,
      description: agent.requested.includes(c) ? 'requested' : 'not requested: granting it widens what the agent asked for',
      picked: initial.includes(c),
      capability: c as Capability,
    })),
    { title: title(1), placeHolder: 'Capabilities to grant', canPickMany: true, ignoreFocusOut: true },
  );
  if (!caps) return undefined;
  const capabilities = caps.map((c) => c.capability);
  const currentApproval = agent.policy?.approvalRequired ?? [];
  const approval =
    capabilities.length === 0
      ? []
      : await vscode.window.showQuickPick(
          capabilities.map((c) => ({ label: c, picked: currentApproval.includes(c), capability: c })),
          { title: title(2), placeHolder: 'Which of them pause for a reviewer before they run?', canPickMany: true, ignoreFocusOut: true },
        );
  if (!approval) return undefined;
  const ask = (n: number, prompt: string, value: string, check: (v: string) => string | undefined) =>
    vscode.window.showInputBox({ title: title(n), prompt, value, validateInput: check, ignoreFocusOut: true });
  const maxRequestsPerHour = await ask(3, 'Requests per hour (rolling window)', String(agent.policy?.maxRequestsPerHour ?? 60), (v) => checkCount(v, 'requests per hour'));
  if (maxRequestsPerHour === undefined) return undefined;
  const maxTokensPerDay = await ask(4, 'LLM tokens per day', String(agent.policy?.maxTokensPerDay ?? 100_000), (v) => checkCount(v, 'tokens per day'));
  if (maxTokensPerDay === undefined) return undefined;
  const validDays = await ask(5, 'Policy valid for how many days (the agent refuses intents after that)', '30', checkDays);
  if (validDays === undefined) return undefined;
  const built = policyFromAnswers({ capabilities, approvalRequired: approval.map((a) => a.capability), maxRequestsPerHour, maxTokensPerDay, validDays });
  if (!built.ok) {
    void vscode.window.showErrorMessage(`VaultysClaw: ${built.problem}`);
    return undefined;
  }
  const wider = widening(capabilities, agent.requested);
  if (wider.length) {
    const ok = await vscode.window.showWarningMessage(
      `Grant ${visibleText(agent.name)} ${wider.join(', ')}, which it did not ask for?`,
      { modal: true, detail: 'An agent is normally granted at most what it requested. Widening is recorded in the audit log.' },
      'Grant Anyway',
    );
    if (ok !== 'Grant Anyway') return undefined;
  }
  return { policy: built.policy, widen: wider.length > 0 };
}
