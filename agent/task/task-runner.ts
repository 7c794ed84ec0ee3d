import type pino from 'pino';
import { checkTaskStepGates, type GateVerdict } from '../../core/policy/intent-gates';
import { utcDay } from '../../core/policy/utc-day';
import type { AgentFrame } from '../../core/wire/hub-messages';
import type { IntentBody, RejectionReason } from '../../core/wire/intent';
import type { Capability } from '../../core/wire/policy';
import { taskTools, type TaskParams, type TaskTool, type TokenUsageReport } from '../../core/wire/task';
import { ToolCall } from '../../core/wire/tools';
import type { ApprovalWaiter } from '../approval-waiter';
import type { CertifiedSession } from '../intent-runner';
import type { ProgressBatcher } from '../progress-batcher';
import type { TokenLedger } from '../store/token-ledger';
import { runTool } from '../tools';
import { toolTimeoutMs } from '../../core/policy/answer-deadline';
import type { WorkspaceSandbox } from '../tools/sandbox';
import type { HostRules, WriteAllowance } from '../confinement/host-rules';
import { requestChatCompletion } from './chat-completions';
import type { ModelSettings } from './model-settings';
import { effectiveLimits, runTaskLoop, type TaskOutcome, type ToolCallOutcome } from './task-loop';
import { toolDefinitions } from './tool-definitions';
import { checkCallRules, decideCall } from '../../core/policy/rules';
import { quorumOf, recheckAfterApproval } from '../rules/call-decision';
import { hostFacts } from '../rules/host-facts';

/** The inputs of a task step's gates; the delegation gate is given the step, so it checks the step's own capability. */
export type StepGateInputs = Parameters<typeof checkTaskStepGates>[2];

export interface TaskRunnerOptions {
  model: ModelSettings;
  sandbox: WorkspaceSandbox;
  host: HostRules;
  tokens: TokenLedger;
  approvals: ApprovalWaiter;
  log: pino.Logger;
  now: () => number;
  /** Sends on the connection in force when called. */
  send: (frame: AgentFrame) => void;
  stepInputs: (session: CertifiedSession) => StepGateInputs;
  /** Counts an executed tool call toward the hourly rate, as a direct intent's execution is. */
  recordRequest: (at: number) => void;
}

export type TaskResult = TaskOutcome & { usage: TokenUsageReport[] };

const refused = (reason: RejectionReason, message: string): ToolCallOutcome => ({ status: 'refused', reason, message });

/**
 * Runs an llm_task intent that passed every gate: the model's loop against
 * the host's endpoint, each tool call it makes held to the gates of a direct
 * intent on the certificate in force at that moment (capability, task tool
 * subset, delegation, budget, approval pause with the model's arguments,
 * sandbox), and each response's tokens counted in the daily ledger and
 * reported, signed, to the broker.
 */
export class TaskRunner {
  constructor(private readonly o: TaskRunnerOptions) {}

  /** `cancel`: aborted (with IntentCancelled) when the intent is cancelled; it stops the model call, the tool or the reviewer wait in flight. */
  async run(intent: IntentBody, params: TaskParams, progress: ProgressBatcher, current: () => CertifiedSession | undefined, writes: WriteAllowance, cancel: AbortSignal): Promise<TaskResult> {
    const { endpoint } = this.o.model;
    const limits = effectiveLimits(params, this.o.model.limits);
    const deadline = AbortSignal.any([cancel, AbortSignal.timeout(limits.timeLimitMs)]);
    const usage = new Map<string, number>();
    const gates = (capability: Capability): GateVerdict => {
      const session = current();
      if (!session) return { ok: false, reason: 'agent-offline', message: 'the connection to the broker was lost during the task' };
      return checkTaskStepGates(intent, capability, this.o.stepInputs(session));
    };
    const tools = toolDefinitions(taskTools(params));
    this.o.log.info({ event: 'task.started', intentId: intent.id, model: endpoint.model, limits }, 'task started');
    const outcome = await runTaskLoop(params, limits, deadline, {
      tools,
      beforeModelCall: () => gates('llm_task'),
      completionTokens: () => {
        const session = current();
        const left = session ? session.policy.maxTokensPerDay - this.o.tokens.usedToday(this.o.now()) : 0;
        return Math.max(1, Math.min(endpoint.maxCompletionTokens, left));
      },
      chat: (messages, maxTokens, signal) => requestChatCompletion(endpoint, { messages, tools, maxTokens }, signal),
      recordUsage: (tokens, step) => {
        const at = this.o.now();
        this.o.tokens.add(tokens, at);
        const day = utcDay(at);
        const total = (usage.get(day) ?? 0) + tokens;
        usage.set(day, total);
        this.o.log.info({ event: 'task.model-usage', intentId: intent.id, step, tokens, taskTokensToday: total }, 'model tokens counted');
        progress.usage({ day, tokens: total }, `step ${step}: the model used ${tokens} tokens\n`);
      },
      callTool: (tool, args, signal) => this.#callTool(intent, params, tool, args, signal, gates, current, writes),
      status: (text) => progress.push('status', `${text}\n`),
      text: (text) => progress.push('stdout', `${text}\n`),
    });
    return { ...outcome, usage: [...usage].map(([day, tokens]) => ({ day, tokens })) };
  }

  async #callTool(
    intent: IntentBody,
    params: TaskParams,
    tool: TaskTool,
    args: Record<string, unknown>,
    deadline: AbortSignal,
    gates: (capability: Capability) => GateVerdict,
    current: () => CertifiedSession | undefined,
    writes: WriteAllowance,
  ): Promise<ToolCallOutcome> {
    const log = (status: string, reason: RejectionReason | null = null) =>
      this.o.log[status === 'refused' ? 'warn' : 'info']({ event: 'task.tool-call', intentId: intent.id, tool, status, reason }, `task tool call ${status}`);
    const refuse = (reason: RejectionReason, message: string) => {
      log('refused', reason);
      return refused(reason, message);
    };
    if (!taskTools(params).includes(tool)) return refuse('capability-not-granted', `${tool} is not among the tools of this task`);
    const call = ToolCall.safeParse({ capability: tool, params: args });
    // Read first: the gates, the rules and the record of the execution below then follow in one turn.
    const facts = call.success ? await hostFacts(call.data, this.o.sandbox) : {};
    const verdict = gates(tool);
    if (!verdict.ok) return refuse(verdict.reason, verdict.message);
    if (!call.success) {
      const issue = call.error.issues[0];
      return refuse('bad-params', `${issue?.path.slice(1).join('.') || 'arguments'}: ${issue?.message ?? 'invalid'}`);
    }
    const session = current()!;
    const rules = decideCall(session.policy, call.data, 'model', facts);
    const denied = checkCallRules(rules);
    if (!denied.ok) return refuse(denied.reason, denied.message);
    if (rules.effect === 'ask') {
      // The model chose these arguments: its rule may let the user who dispatched the task be one of the reviewers.
      const approval = await this.o.approvals.request(intent, call.data, session, this.o.send, deadline, quorumOf(rules, true));
      if (!approval.ok) return refuse(approval.reason, approval.message);
      this.o.log.info({ event: 'approval.granted', intentId: intent.id, tool, reviewers: approval.reviewers }, "the reviewers approved the model's tool call");
      const fresh = await hostFacts(call.data, this.o.sandbox);
      // The wait may have outlived the policy or a delegation: decide again on what holds now.
      const again = gates(tool);
      if (!again.ok) return refuse(again.reason, again.message);
      const ruled = recheckAfterApproval(current()!.policy, call.data, fresh, { reviewers: approval.reviewers, requester: intent.user, modelCall: true });
      if (!ruled.ok) return refuse(ruled.reason, ruled.message);
    }
    // Counted in the same turn as the gate that read the window: the calls of one response beyond what
    // remains of the hour are refused to the model, one by one, as rate-limited.
    this.o.recordRequest(this.o.now());
    log('executing');
    const outcome = await runTool(call.data, {
      sandbox: this.o.sandbox,
      policy: (current() ?? session).policy,
      host: this.o.host,
      writes,
      signal: AbortSignal.any([deadline, AbortSignal.timeout(toolTimeoutMs(call.data))]),
      onProgress: () => {},
    });
    if (outcome.ok) return { status: 'done', output: outcome.output };
    if (outcome.reason === 'failed') return { status: 'failed', message: outcome.message };
    return refuse(outcome.reason, outcome.message);
  }
}
