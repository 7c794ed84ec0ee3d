import type { IntentBody } from '../wire/intent';
import type { CertifiedPolicy } from '../wire/policy';
import { IntentCall, MAX_TASK_TIME_MS } from '../wire/task';
import type { ToolCall } from '../wire/tools';
import { DEFAULT_CLOCK_SKEW_MS } from './intent-gates';
import { mayAsk } from './rules';

/** A command's own timeout is its own; this is the time the agent has left to stop it and sign the failure. */
const COMMAND_REPORT_GRACE_MS = 5_000;
/** The file tools do bounded work on one workspace; a minute covers a slow disk. */
const FILE_TOOL_TIMEOUT_MS = 60_000;

/**
 * How long a tool may run before the agent aborts it. The broker's answer
 * deadline reads the same bound, so the two cannot drift apart.
 */
export function toolTimeoutMs(call: ToolCall): number {
  return call.capability === 'run_command' ? call.params.timeoutMs + COMMAND_REPORT_GRACE_MS : FILE_TOOL_TIMEOUT_MS;
}

/** By default the margin is the clock-skew allowance: an agent accepts an intent that long past its expiry. */
export const DEFAULT_ANSWER_MARGIN_MS = DEFAULT_CLOCK_SKEW_MS;

/**
 * The latest moment an honest agent can answer an intent: it may still accept
 * it up to its expiry, then wait for a reviewer for the certificate's approval
 * timeout if any call of the capability may need one (approvalRequired, or an ask
 * rule or default of its rules: a rule-level ask waits as long), then run for the capability's own bound
 * (a task for its time limit, reviewer waits within it included). Past it plus
 * `marginMs`, the agent is hung or lying, and the intent ends lost-agent.
 */
export function answerDeadline(
  intent: Pick<IntentBody, 'capability' | 'params' | 'expiresAt'>,
  policy: Pick<CertifiedPolicy, 'approvalRequired' | 'approvalTimeoutMs' | 'rules'>,
  marginMs: number,
): number {
  const call = IntentCall.safeParse({ capability: intent.capability, params: intent.params });
  // Params the agent refuses at once need no time to run.
  const execution = !call.success ? 0 : call.data.capability === 'llm_task' ? (call.data.params.timeLimitMs ?? MAX_TASK_TIME_MS) : toolTimeoutMs(call.data);
  const approval = mayAsk(policy, intent.capability) ? policy.approvalTimeoutMs : 0;
  return intent.expiresAt + approval + execution + marginMs;
}
