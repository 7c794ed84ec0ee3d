import { MAX_COMMAND_LIMITS } from '../core/policy/command-limits';
import { formatLimit, LIMIT_FIELDS, parseDomainList, parseLimit } from '../core/rpc/policy-text';
import type { AgentView, PolicyInput } from '../core/rpc/views';
import { CAPABILITIES, type Capability, type CommandLimits } from '../core/wire/policy';

const DAY_MS = 24 * 60 * 60_000;

/** Capabilities chosen beyond what the agent asked for: granting them must be explicit (widen). */
export function widening(chosen: readonly Capability[], requested: readonly string[]): Capability[] {
  return chosen.filter((c) => !requested.includes(c));
}

/** What the capability picker starts from: the current policy, else what the agent asked for. */
export function initialCapabilities(agent: AgentView): Capability[] {
  const from = agent.policy?.capabilities ?? agent.requested;
  return CAPABILITIES.filter((c) => from.includes(c));
}

/** The tools that start commands or reach the network: only they make allowed domains and command limits matter. */
const HOST_RULE_TOOLS: readonly Capability[] = ['run_command', 'http_fetch', 'llm_task'];

/** Whether the editor asks for allowed domains and command limits: not for an agent that can only read and write files. */
export function asksHostRules(capabilities: readonly Capability[]): boolean {
  return capabilities.some((c) => HOST_RULE_TOOLS.includes(c));
}

/** The domains field as the editor starts it: the current ones, comma-separated; empty means no network. */
export function initialDomains(agent: AgentView): string {
  return (agent.policy?.allowedDomains ?? []).join(', ');
}

/** Each limit as the editor starts it: the current policy's, else the widest. */
export function initialLimits(agent: AgentView): Record<keyof CommandLimits, string> {
  const current = agent.policy?.commandLimits ?? MAX_COMMAND_LIMITS;
  // Shown as read ("4 GiB", "600 s"), which parses back to the same number.
  return Object.fromEntries(LIMIT_FIELDS.map((f) => [f.key, formatLimit(f.kind, current[f.key])])) as Record<keyof CommandLimits, string>;
}

export interface PolicyAnswers {
  capabilities: Capability[];
  approvalRequired: Capability[];
  maxRequestsPerHour: string;
  maxTokensPerDay: string;
  validDays: string;
  /** Comma-separated domain patterns (empty: no network); undefined when the editor did not ask (no tool that uses them): the current ones stay. */
  allowedDomains?: string;
  /** Each limit as typed; undefined when not asked: the current limits stay. */
  commandLimits?: Record<keyof CommandLimits, string>;
}

export function checkCount(text: string, what: string): string | undefined {
  const n = Number(text);
  return text.trim() !== '' && Number.isInteger(n) && n >= 0 ? undefined : `${what} must be a whole number, 0 or more`;
}

export function checkDays(text: string): string | undefined {
  const n = Number(text);
  return Number.isFinite(n) && n > 0 && n <= 366 ? undefined : 'days must be a number from 1 to 366';
}

/** The domains field's problem, if any (a URL, an IP address, a port, too many). */
export function checkDomains(text: string): string | undefined {
  const parsed = parseDomainList(text);
  return parsed.ok ? undefined : parsed.problem;
}

/** One limit's problem, if any. */
export function checkLimit(key: keyof CommandLimits, text: string): string | undefined {
  const parsed = parseLimit(LIMIT_FIELDS.find((f) => f.key === key)!, text, MAX_COMMAND_LIMITS[key]);
  return parsed.ok ? undefined : parsed.problem;
}

/**
 * The policy the broker receives; approval-required is kept within the granted capabilities. Domains and limits
 * not asked for are sent as they are now (domains) or left out (limits, which the broker then keeps).
 */
export function policyFromAnswers(a: PolicyAnswers, agent: AgentView): { ok: true; policy: PolicyInput } | { ok: false; problem: string } {
  const problem = checkCount(a.maxRequestsPerHour, 'requests per hour') ?? checkCount(a.maxTokensPerDay, 'tokens per day') ?? checkDays(a.validDays);
  if (problem) return { ok: false, problem };
  const domains = a.allowedDomains === undefined ? { ok: true as const, domains: agent.policy?.allowedDomains ?? [] } : parseDomainList(a.allowedDomains);
  if (!domains.ok) return domains;
  const commandLimits: Partial<CommandLimits> = {};
  for (const field of a.commandLimits ? LIMIT_FIELDS : []) {
    const limit = parseLimit(field, a.commandLimits![field.key], MAX_COMMAND_LIMITS[field.key]);
    if (!limit.ok) return limit;
    commandLimits[field.key] = limit.value;
  }
  return {
    ok: true,
    policy: {
      capabilities: a.capabilities,
      approvalRequired: a.approvalRequired.filter((c) => a.capabilities.includes(c)),
      maxRequestsPerHour: Number(a.maxRequestsPerHour),
      maxTokensPerDay: Number(a.maxTokensPerDay),
      validForMs: Math.round(Number(a.validDays) * DAY_MS),
      allowedDomains: domains.domains,
      commandLimits,
    },
  };
}

/** The wizard's questions, in order, for a policy granting `capabilities`: LLM tokens only with llm_task, domains and limits only with a tool that uses them. */
export type PolicyStep = 'capabilities' | 'approval' | 'requests' | 'tokens' | 'days' | 'domains' | 'limits';

export function policySteps(capabilities: readonly Capability[]): PolicyStep[] {
  return [
    'capabilities',
    ...(capabilities.length ? (['approval'] as const) : []),
    'requests',
    ...(capabilities.includes('llm_task') ? (['tokens'] as const) : []),
    'days',
    ...(asksHostRules(capabilities) ? (['domains', 'limits'] as const) : []),
  ];
}

/** The answers a wizard starts from: the agent's current policy, else what it asked for with the defaults below. */
export function initialAnswers(agent: AgentView): PolicyAnswers {
  const p = agent.policy;
  const remainingDays = p ? (p.policyExpiresAt - Date.now()) / DAY_MS : 0;
  return {
    capabilities: initialCapabilities(agent),
    approvalRequired: [...(p?.approvalRequired ?? [])],
    maxRequestsPerHour: String(p?.maxRequestsPerHour ?? DEFAULT_REQUESTS_PER_HOUR),
    maxTokensPerDay: String(p?.maxTokensPerDay ?? DEFAULT_TOKENS_PER_DAY),
    // An edit that does not touch the expiry keeps it (within checkDays' bounds); a new policy holds 30 days.
    validDays: remainingDays > 0 && remainingDays <= 366 ? String(remainingDays) : String(DEFAULT_DAYS),
  };
}

export const DEFAULT_REQUESTS_PER_HOUR = 60;
export const DEFAULT_TOKENS_PER_DAY = 100_000;
export const DEFAULT_DAYS = 30;

/**
 * "Approve as requested", in one click: exactly the capabilities the agent asked for (never more: no widening), none
 * paused for a reviewer (a single user could otherwise not use them: nobody else can review their calls), 60 requests
 * an hour, LLM tokens only counted for llm_task, 30 days, no network, the widest command limits (the agent host narrows
 * them to its own ceilings).
 */
export function asRequested(agent: AgentView): { policy: PolicyInput; summary: string } {
  const capabilities = CAPABILITIES.filter((c) => agent.requested.includes(c));
  const built = policyFromAnswers(
    { capabilities, approvalRequired: [], maxRequestsPerHour: String(DEFAULT_REQUESTS_PER_HOUR), maxTokensPerDay: String(DEFAULT_TOKENS_PER_DAY), validDays: String(DEFAULT_DAYS), allowedDomains: '' },
    agent,
  );
  if (!built.ok) throw new Error(built.problem);
  const summary = [
    capabilities.join(', ') || 'no capabilities',
    'no reviewer needed',
    `${DEFAULT_REQUESTS_PER_HOUR} requests/h`,
    ...(capabilities.includes('llm_task') ? [`${DEFAULT_TOKENS_PER_DAY.toLocaleString('en-US')} LLM tokens/day`] : []),
    `${DEFAULT_DAYS} days`,
    ...(asksHostRules(capabilities) ? ['no network'] : []),
  ].join(' · ');
  return { policy: built.policy, summary };
}

/** One answer as the Edit Policy list shows it. */
export function answerText(step: PolicyStep, a: PolicyAnswers, agent: AgentView): string {
  switch (step) {
    case 'capabilities':
      return a.capabilities.join(', ') || 'none';
    case 'approval':
      return a.approvalRequired.filter((c) => a.capabilities.includes(c)).join(', ') || 'none';
    case 'requests':
      return `${a.maxRequestsPerHour} per hour`;
    case 'tokens':
      return `${a.maxTokensPerDay} per day`;
    case 'days':
      return `${Math.round(Number(a.validDays) * 10) / 10} days from now`;
    case 'domains':
      return (a.allowedDomains ?? initialDomains(agent)) || 'no network';
    case 'limits': {
      const l = a.commandLimits ?? initialLimits(agent);
      return LIMIT_FIELDS.map((f) => `${f.label} ${l[f.key]}`).join(' · ');
    }
  }
}
