import type { AgentView, PolicyInput } from '../core/rpc/views';
import { CAPABILITIES, type Capability } from '../core/wire/policy';

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

export interface PolicyAnswers {
  capabilities: Capability[];
  approvalRequired: Capability[];
  maxRequestsPerHour: string;
  maxTokensPerDay: string;
  validDays: string;
}

export function checkCount(text: string, what: string): string | undefined {
  const n = Number(text);
  return text.trim() !== '' && Number.isInteger(n) && n >= 0 ? undefined : `${what} must be a whole number, 0 or more`;
}

export function checkDays(text: string): string | undefined {
  const n = Number(text);
  return Number.isFinite(n) && n > 0 && n <= 366 ? undefined : 'days must be a number from 1 to 366';
}

/** The policy the broker receives; approval-required is kept within the granted capabilities. */
export function policyFromAnswers(a: PolicyAnswers): { ok: true; policy: PolicyInput } | { ok: false; problem: string } {
  const problem = checkCount(a.maxRequestsPerHour, 'requests per hour') ?? checkCount(a.maxTokensPerDay, 'tokens per day') ?? checkDays(a.validDays);
  if (problem) return { ok: false, problem };
  return {
    ok: true,
    policy: {
      capabilities: a.capabilities,
      approvalRequired: a.approvalRequired.filter((c) => a.capabilities.includes(c)),
      maxRequestsPerHour: Number(a.maxRequestsPerHour),
      maxTokensPerDay: Number(a.maxTokensPerDay),
      validForMs: Math.round(Number(a.validDays) * DAY_MS),
    },
  };
}
