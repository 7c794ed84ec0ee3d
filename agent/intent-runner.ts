import type pino from 'pino';
import { decodeCanonical, open, seal, type SealedEnvelope, type SecretIdentity, type VaultysId } from '../core/identity';
import { checkDelegation, NO_REVOCATIONS, readRevocationList, type RevocationState } from '../core/policy/delegation-gate';
import { checkIntentGates, checkPolicyGates, HOUR_MS } from '../core/policy/intent-gates';
import { ProgressBatcher } from './progress-batcher';
import type { ApprovalDecisionBundle } from '../core/wire/approval';
import { ApprovalWaiter } from './approval-waiter';
import type { AgentFrame } from '../core/wire/hub-messages';
import { IntentBody, type RejectionReason, type ResultBody } from '../core/wire/intent';
import type { CertifiedPolicy } from '../core/wire/policy';
import { IntentCall, type TokenUsageReport } from '../core/wire/task';
import type { RequestWindow } from './store/request-window';
import type { SeenIntentStore } from './store/seen-intents';
import type { TokenLedger } from './store/token-ledger';
import { runTool, toolTimeoutMs } from './tools';
import type { ModelSettings } from './task/model-settings';
import { TaskRunner, type StepGateInputs } from './task/task-runner';
import type { WorkspaceSandbox } from './tools/sandbox';

/** What the current certificate says: the only source of the broker key and the policy. */
export interface CertifiedSession {
  broker: VaultysId;
  policy: CertifiedPolicy;
  /** The id this broker replaced in a rotation, and until when delegation certificates it signed still count. */
  formerBroker?: { id: VaultysId; until: number } | null;
}

export interface IntentRunnerOptions {
  identity: SecretIdentity;
  sandbox: WorkspaceSandbox;
  seen: SeenIntentStore;
  requests: RequestWindow;
  tokens: TokenLedger;
  stalenessMs: number;
  clockSkewMs: number;
  log: pino.Logger;
  /** The host's model for llm_task; without it the agent refuses tasks. */
  model?: ModelSettings;
  now?: () => number;
}

/**
 * Verifies and runs intents in the decision order of architecture.md. Every
 * refusal is a signed result with its reason, and is logged. Results are kept
 * until the broker acknowledges them, and resent after a reconnect.
 */
export class IntentRunner {
  readonly #unacknowledged = new Map<string, SealedEnvelope>();
  readonly #now: () => number;
  readonly #approvals: ApprovalWaiter;
  readonly #tasks?: TaskRunner;
  #send: (frame: AgentFrame) => void = () => {};
  #revocations: RevocationState = NO_REVOCATIONS;

  constructor(private readonly o: IntentRunnerOptions) {
    this.#now = o.now ?? Date.now;
    this.#approvals = new ApprovalWaiter(o.identity, o.sandbox.root, o.log, this.#now);
    if (o.model) {
      this.#tasks = new TaskRunner({
        model: o.model,
        sandbox: o.sandbox,
        tokens: o.tokens,
        approvals: this.#approvals,
        log: o.log,
        now: this.#now,
        send: (frame) => this.#send(frame),
        stepInputs: (session) => this.#stepInputs(session),
      });
    }
  }

  /** Keeps a pushed revocation list if it verifies and is newer than the one held; an older one is ignored. */
  updateRevocations(envelope: SealedEnvelope, session: CertifiedSession): void {
    const list = readRevocationList(session.broker, envelope);
    if (typeof list === 'string') {
      this.o.log.warn({ event: 'revocations.refused', detail: list }, 'revocation list refused');
      return;
    }
    if (list.version <= this.#revocations.version) return;
    this.#revocations = list;
    this.o.log.info({ event: 'revocations.updated', version: list.version, delegations: list.delegations.size, users: list.users.size }, 'revocation list updated');
  }

  /** A reviewer's decision, countersigned by the broker, for a tool call waiting here. */
  onApprovalDecision(bundle: ApprovalDecisionBundle, session: CertifiedSession): void {
    this.#approvals.decide(bundle, session);
  }

  /** The connection closed: tool calls waiting for a reviewer there are rejected. */
  detach(): void {
    this.#send = () => {};
    this.#approvals.abandonAll();
  }

  /** Where frames go: the current connection. */
  attach(send: (frame: AgentFrame) => void): void {
    this.#send = send;
    for (const envelope of this.#unacknowledged.values()) send({ type: 'result', envelope });
  }

  acknowledge(intentId: string): void {
    this.#unacknowledged.delete(intentId);
  }

  /**
   * `current` gives the session in force at any later moment (the connection
   * may renew its certificate while a tool call waits for a reviewer).
   */
  async handle(envelope: SealedEnvelope, session: CertifiedSession, current: () => CertifiedSession | undefined = () => session): Promise<void> {
    const opened = open(session.broker, 'vaultysclaw/intent/v1', envelope);
    if (!opened.ok) return this.#refuseUntrusted(envelope, opened.reason === 'bad-signature' ? 'bad-signature' : 'malformed', opened.message);
    const parsed = IntentBody.safeParse(opened.body);
    if (!parsed.success) return this.#refuseUntrusted(envelope, 'malformed', 'intent does not match its schema');
    const intent = parsed.data;
    const verdict = checkIntentGates(intent, {
      ...this.#policyInputs(intent, session),
      stalenessMs: this.o.stalenessMs,
      // Check and record in one durable step, before anything runs: a replay, even racing, finds it.
      alreadySeen: (id) => !this.o.seen.record(id, intent.issuedAt),
    });
    if (!verdict.ok) return this.#finish(intent, 'rejected', verdict.reason, verdict.message, null);
    const call = IntentCall.safeParse({ capability: intent.capability, params: intent.params });
    if (!call.success) {
      const issue = call.error.issues[0];
      return this.#finish(intent, 'rejected', 'bad-params', `${issue?.path.join('.') || 'params'}: ${issue?.message ?? 'invalid'}`, null);
    }
    if (call.data.capability === 'llm_task' && !this.#tasks) {
      return this.#finish(intent, 'rejected', 'model-unavailable', 'this agent has no model configured (agent start --model-url)', null);
    }
    if (session.policy.approvalRequired.includes(intent.capability)) {
      const approval = await this.#approvals.request(intent, { capability: intent.capability, params: intent.params }, session, this.#send);
      if (!approval.ok) return this.#finish(intent, 'rejected', approval.reason, approval.message, null);
      this.o.log.info({ event: 'approval.granted', intentId: intent.id, reviewer: approval.reviewer }, 'a reviewer approved the tool call');
      // The wait may have outlived the policy, the rate window or a delegation: decide again on what holds now.
      const now = current();
      if (!now) return this.#finish(intent, 'rejected', 'approval-expired', 'the connection to the broker was lost while waiting for the reviewer', null);
      const again = checkPolicyGates(intent, this.#policyInputs(intent, now));
      if (!again.ok) return this.#finish(intent, 'rejected', again.reason, again.message, null);
    }
    const now = this.#now();
    // Only executed requests count toward the hourly rate.
    this.o.requests.record(now);
    this.o.log.info({ event: 'intent.executing', intentId: intent.id, capability: intent.capability, user: intent.user }, 'executing intent');
    const progress = new ProgressBatcher((seq, stream, text, usage) => {
      const body = { intentId: intent.id, agent: this.o.identity.did, seq, stream, text, at: this.#now(), ...(usage ? { usage } : {}) };
      this.#send({ type: 'progress', envelope: seal(this.o.identity, 'vaultysclaw/progress/v1', body) });
    });
    if (call.data.capability === 'llm_task') {
      const task = await this.#tasks!.run(intent, call.data.params, progress, current);
      progress.flush();
      if (task.outcome === 'succeeded') return this.#finish(intent, 'succeeded', null, task.message, task.output, task.usage);
      return this.#finish(intent, 'failed', task.reason, task.message, task.output, task.usage);
    }
    const outcome = await runTool(call.data, {
      sandbox: this.o.sandbox,
      signal: AbortSignal.timeout(toolTimeoutMs(call.data)),
      onProgress: (stream, text) => progress.push(stream, text),
    });
    progress.flush();
    if (outcome.ok) return this.#finish(intent, 'succeeded', null, 'done', outcome.output);
    if (outcome.reason === 'failed') return this.#finish(intent, 'failed', null, outcome.message, null);
    return this.#finish(intent, 'rejected', outcome.reason, outcome.message, null);
  }

  #policyInputs(intent: IntentBody, session: CertifiedSession) {
    const step = this.#stepInputs(session);
    return { ...step, requestsInLastHour: this.o.requests.countSince(step.now - HOUR_MS), delegation: () => step.delegation(intent) };
  }

  /** What the gates read from this agent's stores and the session in force, the hourly rate aside. */
  #stepInputs(session: CertifiedSession): StepGateInputs {
    const now = this.#now();
    return {
      now,
      agent: this.o.identity.did,
      policy: session.policy,
      clockSkewMs: this.o.clockSkewMs,
      tokensUsedToday: this.o.tokens.usedToday(now),
      delegation: (intent) =>
        checkDelegation(intent, { broker: session.broker, formerBroker: session.formerBroker ?? null, agent: this.o.identity.did, now, clockSkewMs: this.o.clockSkewMs, revocations: this.#revocations }),
      approvals: 'pause',
    };
  }

  /** A refusal before the intent could be trusted: reported under the id it claims, if it has one. */
  #refuseUntrusted(envelope: SealedEnvelope, reason: RejectionReason, message: string): void {
    const decoded = decodeCanonical(envelope.payload);
    const claimed = decoded.ok ? IntentBody.shape.id.safeParse((decoded.value as { body?: { id?: unknown } })?.body?.id) : undefined;
    this.o.log.warn({ event: 'intent.refused', reason, detail: message, claimedId: claimed?.success ? claimed.data : null }, 'untrusted intent refused');
    if (claimed?.success) this.#report({ intentId: claimed.data, outcome: 'rejected', reason, message, output: null });
  }

  #finish(
    intent: IntentBody,
    outcome: ResultBody['outcome'],
    reason: RejectionReason | null,
    message: string,
    output: Record<string, unknown> | null,
    usage: TokenUsageReport[] = [],
  ): void {
    const level = outcome === 'succeeded' ? 'info' : 'warn';
    this.o.log[level]({ event: `intent.${outcome}`, intentId: intent.id, reason, detail: message }, `intent ${outcome}`);
    this.#report({ intentId: intent.id, outcome, reason, message, output, ...(usage.length ? { usage } : {}) });
  }

  #report(r: Pick<ResultBody, 'intentId' | 'outcome' | 'reason' | 'message' | 'output' | 'usage'>): void {
    const body: ResultBody = { ...r, message: r.message.slice(0, 4000), agent: this.o.identity.did, finishedAt: this.#now() };
    const envelope = seal(this.o.identity, 'vaultysclaw/result/v1', body);
    this.#unacknowledged.set(r.intentId, envelope);
    this.#send({ type: 'result', envelope });
  }
}
