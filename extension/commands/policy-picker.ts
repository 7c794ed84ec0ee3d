import * as vscode from 'vscode';
import { visibleText } from '../../core/text/untrusted-text';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import { formatLimit, LIMIT_FIELDS } from '../../core/rpc/policy-text';
import type { AgentView, PolicyInput } from '../../core/rpc/views';
import { CAPABILITIES, type Capability, type CommandLimits } from '../../core/wire/policy';
import {
  answerText,
  asRequested,
  checkCount,
  checkDays,
  checkDomains,
  checkLimit,
  DEFAULT_DAYS,
  initialAnswers,
  initialDomains,
  initialLimits,
  policyFromAnswers,
  policySteps,
  widening,
  type PolicyAnswers,
  type PolicyStep,
} from '../policy-choice';
import { notify } from '../notify';

type Outcome<T> = { kind: 'ok'; value: T } | { kind: 'back' } | { kind: 'cancel' };

/** A quick pick with a Back button (unless it is the first step): Esc cancels, Back goes one question back. */
function pick<T>(options: { title: string; placeholder: string; items: (vscode.QuickPickItem & { value: T })[]; many?: boolean; back: boolean }): Promise<Outcome<T[]>> {
  return new Promise((resolve) => {
    const qp = vscode.window.createQuickPick<vscode.QuickPickItem & { value: T }>();
    Object.assign(qp, { title: options.title, placeholder: options.placeholder, canSelectMany: options.many ?? false, ignoreFocusOut: true, matchOnDescription: true });
    qp.items = options.items;
    if (options.many) qp.selectedItems = options.items.filter((i) => i.picked);
    qp.buttons = options.back ? [vscode.QuickInputButtons.Back] : [];
    let done = false;
    const finish = (outcome: Outcome<T[]>) => {
      if (done) return;
      done = true;
      resolve(outcome);
      qp.dispose();
    };
    qp.onDidTriggerButton(() => finish({ kind: 'back' }));
    qp.onDidAccept(() => finish({ kind: 'ok', value: (options.many ? qp.selectedItems : qp.activeItems.slice(0, 1)).map((i) => i.value) }));
    qp.onDidHide(() => finish({ kind: 'cancel' }));
    qp.show();
  });
}

/** An input box with a Back button, validated as it is typed. */
function input(options: { title: string; prompt: string; value: string; check: (v: string) => string | undefined; back: boolean }): Promise<Outcome<string>> {
  return new Promise((resolve) => {
    const box = vscode.window.createInputBox();
    Object.assign(box, { title: options.title, prompt: options.prompt, value: options.value, ignoreFocusOut: true });
    box.buttons = options.back ? [vscode.QuickInputButtons.Back] : [];
    let done = false;
    const finish = (outcome: Outcome<string>) => {
      if (done) return;
      done = true;
      resolve(outcome);
      box.dispose();
    };
    box.onDidChangeValue((v) => (box.validationMessage = options.check(v)));
    box.onDidTriggerButton(() => finish({ kind: 'back' }));
    box.onDidAccept(() => {
      const problem = options.check(box.value);
      if (problem) box.validationMessage = problem;
      else finish({ kind: 'ok', value: box.value });
    });
    box.onDidHide(() => finish({ kind: 'cancel' }));
    box.show();
  });
}

/** Asks one question of the policy and writes the answer into `a`. */
async function askStep(step: PolicyStep, a: PolicyAnswers, agent: AgentView, title: string, back: boolean): Promise<'ok' | 'back' | 'cancel'> {
  const text = (prompt: string, value: string, check: (v: string) => string | undefined, apply: (v: string) => void) =>
    input({ title, prompt, value, check, back }).then((o) => (o.kind === 'ok' ? (apply(o.value), 'ok' as const) : o.kind));
  switch (step) {
    case 'capabilities': {
      const o = await pick<Capability>({
        title,
        placeholder: 'Capabilities to grant (Space to tick, Enter to go on)',
        many: true,
        back,
        items: CAPABILITIES.map((c) => ({
          label: c,
          description: agent.requested.includes(c) ? 'requested' : 'not requested: granting it widens what the agent asked for',
          picked: a.capabilities.includes(c),
          value: c as Capability,
        })),
      });
      if (o.kind === 'ok') {
        a.capabilities = o.value;
        a.approvalRequired = a.approvalRequired.filter((c) => o.value.includes(c));
      }
      return o.kind;
    }
    case 'approval': {
      const o = await pick<Capability>({
        title,
        placeholder: 'Which of them pause for a reviewer other than the requester before they run? (none ticked: none)',
        many: true,
        back,
        items: a.capabilities.map((c) => ({ label: c, picked: a.approvalRequired.includes(c), value: c })),
      });
      if (o.kind === 'ok') a.approvalRequired = o.value;
      return o.kind;
    }
    case 'requests':
      return text('Requests per hour (rolling window)', a.maxRequestsPerHour, (v) => checkCount(v, 'requests per hour'), (v) => (a.maxRequestsPerHour = v));
    case 'tokens':
      return text('LLM tokens per day (llm_task)', a.maxTokensPerDay, (v) => checkCount(v, 'tokens per day'), (v) => (a.maxTokensPerDay = v));
    case 'days':
      return text('Policy valid for how many days from now (the agent refuses intents after that)', Number.isInteger(Number(a.validDays)) ? a.validDays : String(DEFAULT_DAYS), checkDays, (v) => (a.validDays = v));
    case 'domains':
      return text(
        "Hosts its commands (through the agent's proxy) and http_fetch may reach, comma-separated: api.example.com, *.npmjs.org. Empty: no network.",
        a.allowedDomains ?? initialDomains(agent),
        checkDomains,
        (v) => (a.allowedDomains = v),
      );
    case 'limits': {
      const limits = await askLimits(agent, a.commandLimits ?? initialLimits(agent), title, back);
      if (limits.kind === 'ok') a.commandLimits = limits.value;
      return limits.kind;
    }
  }
}

/** The whole wizard, one question after another, with Back; the questions follow the capabilities chosen. */
async function wizard(agent: AgentView, verb: string, a: PolicyAnswers): Promise<PolicyAnswers | undefined> {
  for (let i = 0; ; ) {
    const steps = policySteps(a.capabilities);
    if (i >= steps.length) return a;
    const outcome = await askStep(steps[i]!, a, agent, `${verb} ${visibleText(agent.name)} (${i + 1}/${steps.length})`, i > 0);
    if (outcome === 'cancel') return undefined;
    i = outcome === 'back' ? Math.max(0, i - 1) : i + 1;
  }
}

const STEP_LABELS: Record<PolicyStep, string> = {
  capabilities: 'Capabilities',
  approval: 'Needs a reviewer',
  requests: 'Requests per hour',
  tokens: 'LLM tokens per day',
  days: 'Valid for',
  domains: 'Allowed domains',
  limits: 'Command limits',
};

/** Edit Policy: the fields with their values; the admin opens the one to change (Back returns here) and applies. */
async function editor(agent: AgentView, verb: string, a: PolicyAnswers): Promise<PolicyAnswers | undefined> {
  const title = `${verb} ${visibleText(agent.name)}`;
  let changed = false;
  for (;;) {
    const o = await pick<PolicyStep | 'apply'>({
      title,
      placeholder: changed ? 'Pick a field to change, or apply the changes' : 'Pick the field to change',
      back: false,
      items: [
        ...(changed ? [{ label: '$(check) Apply the changes', value: 'apply' as const }] : []),
        ...policySteps(a.capabilities).map((step) => ({ label: STEP_LABELS[step], description: answerText(step, a, agent), value: step })),
      ],
    });
    if (o.kind !== 'ok' || !o.value[0]) return undefined;
    if (o.value[0] === 'apply') return a;
    const outcome = await askStep(o.value[0], a, agent, `${title}: ${STEP_LABELS[o.value[0]]}`, true);
    if (outcome === 'cancel') return undefined;
    if (outcome === 'ok') changed = true;
  }
}

/**
 * Asks an admin for an agent's policy. Approving a registration offers "Approve as requested" first (one click);
 * otherwise the wizard asks only the questions that matter for the capabilities granted (LLM tokens with llm_task,
 * domains and limits with a tool that runs commands or fetches), each with Back. Editing a policy opens the field the
 * admin picks. Undefined if they cancel.
 */
export async function askPolicy(agent: AgentView, verb: string): Promise<{ policy: PolicyInput; widen: boolean } | undefined> {
  const answers = initialAnswers(agent);
  let chosen: PolicyAnswers | undefined;
  if (agent.policy) chosen = await editor(agent, verb, answers);
  else {
    const requested = asRequested(agent);
    const first = await pick<'requested' | 'choose'>({
      title: `${verb} ${visibleText(agent.name)}`,
      placeholder: 'Approve with what it asked for, or choose the policy',
      back: false,
      items: [
        { label: '$(check) Approve as requested', description: requested.summary, detail: 'Exactly the capabilities it asked for; change them any time with Edit Policy.', value: 'requested' },
        { label: '$(settings) Choose the policy…', detail: 'Capabilities, reviewers, limits, expiry and network, step by step', value: 'choose' },
      ],
    });
    if (first.kind !== 'ok' || !first.value[0]) return undefined;
    if (first.value[0] === 'requested') return { policy: requested.policy, widen: false };
    chosen = await wizard(agent, verb, answers);
  }
  if (!chosen) return undefined;
  const hostRules = policySteps(chosen.capabilities).includes('domains');
  const built = policyFromAnswers({ ...chosen, ...(hostRules ? {} : { allowedDomains: undefined, commandLimits: undefined }) }, agent);
  if (!built.ok) {
    void notify.error(`VaultysClaw: ${built.problem}`);
    return undefined;
  }
  const wider = widening(chosen.capabilities, agent.requested);
  if (wider.length) {
    const ok = await notify.warn(
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
async function askLimits(agent: AgentView, start: Record<keyof CommandLimits, string>, title: string, back: boolean): Promise<Outcome<Record<keyof CommandLimits, string>>> {
  const limits = { ...start };
  const ceilings = agent.confinement?.ceilings;
  for (;;) {
    const choice = await pick<keyof CommandLimits | 'keep'>({
      title,
      placeholder: 'Command limits: pick one to change it, or use them as shown',
      back,
      items: [
        { label: '$(check) Use these limits', value: 'keep' },
        ...LIMIT_FIELDS.map((f) => ({
          label: f.label,
          description: limits[f.key],
          detail: `Per command, at most ${formatLimit(f.kind, MAX_COMMAND_LIMITS[f.key])}${ceilings ? `; this agent's host allows at most ${formatLimit(f.kind, ceilings[f.key])}` : ''}`,
          value: f.key,
        })),
      ],
    });
    if (choice.kind !== 'ok') return choice;
    const key = choice.value[0];
    if (!key || key === 'keep') return { kind: 'ok', value: limits };
    const field = LIMIT_FIELDS.find((f) => f.key === key)!;
    const typed = await input({
      title,
      prompt: `${field.label} per command${field.kind === 'bytes' ? ' (K, M, G: 512M, 2G)' : field.kind === 'seconds' ? ' (seconds)' : ''}`,
      value: limits[field.key],
      check: (v) => checkLimit(field.key, v),
      back: true,
    });
    if (typed.kind === 'cancel') return typed;
    if (typed.kind === 'ok') limits[field.key] = typed.value;
  }
}
