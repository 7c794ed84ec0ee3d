import * as vscode from 'vscode';
import { visibleText } from '../../core/text/untrusted-text';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import { formatLimit, LIMIT_FIELDS } from '../../core/rpc/policy-text';
import type { AgentView, PolicyInput } from '../../core/rpc/views';
import { CAPABILITIES, type Capability, type CommandLimits } from '../../core/wire/policy';
import { asksHostRules, checkCount, checkDays, checkDomains, checkLimit, initialCapabilities, initialDomains, initialLimits, policyFromAnswers, widening } from '../policy-choice';

/** The steps every policy takes; allowed domains and command limits add two when a granted tool uses them. */
const BASE_STEPS = 5;
const HOST_RULE_STEPS = 2;

/**
 * Asks an admin for an agent's policy: capabilities (at most what it asked
 * for unless widening is confirmed), which of them need a reviewer, the
 * limits, and, for an agent granted a tool that runs commands or fetches,
 * its allowed domains and command limits. Undefined if they cancel at any step.
 */
export async function askPolicy(agent: AgentView, verb: string): Promise<{ policy: PolicyInput; widen: boolean } | undefined> {
  let steps = BASE_STEPS + (asksHostRules(initialCapabilities(agent)) ? HOST_RULE_STEPS : 0);
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
  const hostRules = asksHostRules(capabilities);
  steps = BASE_STEPS + (hostRules ? HOST_RULE_STEPS : 0);
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
  let allowedDomains: string | undefined;
  let commandLimits: Record<keyof CommandLimits, string> | undefined;
  if (hostRules) {
    allowedDomains = await ask(
      6,
      "Hosts its commands (through the agent's proxy) and http_fetch may reach, comma-separated: api.example.com, *.npmjs.org. Empty: no network.",
      initialDomains(agent),
      checkDomains,
    );
    if (allowedDomains === undefined) return undefined;
    commandLimits = await askLimits(agent, title(7));
    if (!commandLimits) return undefined;
  }
  const built = policyFromAnswers(
    { capabilities, approvalRequired: approval.map((a) => a.capability), maxRequestsPerHour, maxTokensPerDay, validDays, allowedDomains, commandLimits },
    agent,
  );
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

/**
 * The five command limits in one list: the admin keeps them all at once, or opens one to change it and comes
 * back to the list. Each shows the agent host's ceiling, which narrows it again on the agent.
 */
async function askLimits(agent: AgentView, title: string): Promise<Record<keyof CommandLimits, string> | undefined> {
  const limits = initialLimits(agent);
  const ceilings = agent.confinement?.ceilings;
  const KEEP = 'keep';
  for (;;) {
    const choice = await vscode.window.showQuickPick(
      [
        { label: '$(check) Use these limits', key: KEEP },
        ...LIMIT_FIELDS.map((f) => ({
          label: f.label,
          description: limits[f.key],
          detail: `Per command, at most ${formatLimit(f.kind, MAX_COMMAND_LIMITS[f.key])}${ceilings ? `; this agent's host allows at most ${formatLimit(f.kind, ceilings[f.key])}` : ''}`,
          key: f.key,
        })),
      ],
      { title, placeHolder: 'Command limits: pick one to change it, or use them as shown', ignoreFocusOut: true },
    );
    if (!choice) return undefined;
    if (choice.key === KEEP) return limits;
    const field = LIMIT_FIELDS.find((f) => f.key === choice.key)!;
    const typed = await vscode.window.showInputBox({
      title,
      prompt: `${field.label} per command${field.kind === 'bytes' ? ' (K, M, G: 512M, 2G)' : field.kind === 'seconds' ? ' (seconds)' : ''}`,
      value: limits[field.key],
      validateInput: (v) => checkLimit(field.key, v),
      ignoreFocusOut: true,
    });
    if (typed !== undefined) limits[field.key] = typed;
  }
}
