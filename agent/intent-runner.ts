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
import { parseIntentCall, type TokenUsageReport } from '../core/wire/task';
import type { RequestWindow } from './store/request-window';
import type { ResultOutbox } from './store/result-outbox';
import type { SeenIntentStore } from './store/seen-intents';
import type { TokenLedger } from './store/token-ledger';
import { storageFailure } from '../core/storage/storage-failure';
import { runTool } from './tools';
import { toolTimeoutMs } from '../core/policy/answer-deadline';
import type { ModelSettings } from './task/model-settings';
import { TaskRunner, type StepGateInputs } from './task/task-runner';
import type { WorkspaceSandbox } from './tools/sandbox';
import { writeAllowance, type HostRules } from './confinement/host-rules';
import { checkCallRules, chosenByOf, decideCall } from '../core/policy/rules';
import { quorumOf, recheckAfterApproval, rulesSpeakFor } from './rules/call-decision';
import { hostFacts } from './rules/host-facts';
import { cancelledBy, IntentCancelled, verifyIntentCancel } from './intent-cancel';

const RESEND_BATCH = 50;
const RESEND_INTERVAL_MS = 500;

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
  outbox: ResultOutbox;
  requests: RequestWindow;
  tokens: TokenLedger;
  /** Runs `fn` as one transaction of the stores' database, on disk when it returns (one fsync for the seen id and the request). */
  atomically: <T>(fn: () => T) => T;
  stalenessMs: number;
  clockSkewMs: number;
  log: pino.Logger;
  /** How commands are confined on this host and what no command or fetch may reach. */
  host: HostRules;
  /** The host's model for llm_task; without it the agent refuses tasks. */
  model?: ModelSettings;
  now?: () => number;
}

/**
 * Verifies and runs intents in the decision order of architecture.md. Every
 * refusal is a signed result with its reason, and is logged. The result of
 * every intent whose id was claimed is on disk before it is sent, kept until
 * the broker acknowledges it, and resent after each handshake; refusals of
 * unclaimed deliveries (untrusted, stale, replayed) are not kept: the broker
 * resends an unanswered intent and gets the same refusal again.
 */
export class IntentRunner {
  /** Intents being handled by this process: a second delivery (the broker resending after a reconnect) is ignored, the first one's result answers both. */
  readonly #inHand = new Set<string>();
  /** Per intent in hand, what its cancel aborts: the running tool, the task, the wait for a reviewer. */
  readonly #cancels = new Map<string, AbortController>();
  readonly #now: () => number;
  readonly #approvals: ApprovalWaiter;
  readonly #tasks?: TaskRunner;
  #send: (frame: AgentFrame) => void = () => {};
  #revocations: RevocationState = NO_REVOCATIONS;

  /** The host's confinement and egress rules, as the hello states them. */
  get host(): HostRules {
    return this.o.host;
  }

  constructor(private readonly o: IntentRunnerOptions) {
    this.#now = o.now ?? Date.now;
    this.#approvals = new ApprovalWaiter(o.identity, o.sandbox.root, o.log, this.#now);
    if (o.model) {
      this.#tasks = new TaskRunner({
        model: o.model,
        sandbox: o.sandbox,
        host: o.host,
        tokens: o.tokens,
        approvals: this.#approvals,
        log: o.log,
        now: this.#now,
        send: (frame) => this.#send(frame),
        stepInputs: (session) => this.#stepInputs(session),
        recordRequest: (at) => this.o.requests.record(at),
      });
    }
    this.#answerInterrupted();
  }

  /**
   * An id claimed by an earlier run of this agent that got no result: it was
   * stopped (kill -9, power loss) between the claim and the result. It never
   * runs again (its id is spent), so say so with a signed result instead of
   * leaving the broker to guess.
   */
  #answerInterrupted(): void {
    for (const intentId of this.o.outbox.unanswered()) {
      const message = 'the agent stopped while it held this intent; it is not run again and may have run in part';
      this.o.log.warn({ event: 'intent.interrupted', intentId }, 'intent interrupted by an agent restart');
      this.#report({ intentId, outcome: 'failed', reason: null, message, output: null }, true);
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

  /**
   * The broker's signed cancel of an intent in hand: its tool is stopped (run_command's process group killed, a
   * task's loop ended) or its wait for a reviewer dropped, and the intent is answered with its signed result as
   * usual. A cancel that is not the pinned broker's, for another agent, or stale is refused and changes nothing.
   */
  onCancel(envelope: SealedEnvelope, session: CertifiedSession): void {
    const verdict = verifyIntentCancel(envelope, { broker: session.broker, agent: this.o.identity.did, now: this.#now(), stalenessMs: this.o.stalenessMs, clockSkewMs: this.o.clockSkewMs });
    if (!verdict.ok) {
      this.o.log.warn({ event: 'cancel.refused', reason: verdict.reason, detail: verdict.message }, 'cancel refused');
      return;
    }
    const { intentId, cancelledBy: by } = verdict.cancel;
    const controller = this.#cancels.get(intentId);
    if (!controller) {
      this.o.log.info({ event: 'cancel.ignored', intentId, by }, 'cancel for an intent not in hand (already answered, or never received)');
      return;
    }
    this.o.log.warn({ event: 'intent.cancelling', intentId, by }, 'the broker cancelled this intent; stopping it');
    controller.abort(new IntentCancelled(by));
  }

  /** The connection closed: tool calls waiting for a reviewer there are rejected. */
  detach(): void {
    this.#send = () => {};
    this.#approvals.abandonAll();
  }

  /** Where frames go: the current connection, which gets every kept result again. */
  attach(send: (frame: AgentFrame) => void): void {
    this.#send = send;
    this.#resendKept(this.o.outbox.all(), send);
  }

  /** In batches: the hub cuts off a connection that sends faster than its frame rate (200 a second). */
  #resendKept(kept: SealedEnvelope[], send: (frame: AgentFrame) => void): void {
    // The connection changed meanwhile: the next attach resends what is still kept.
    if (this.#send !== send) return;
    for (const envelope of kept.splice(0, RESEND_BATCH)) send({ type: 'result', envelope });
    if (kept.length > 0) setTimeout(() => this.#resendKept(kept, send), RESEND_INTERVAL_MS).unref();
  }

  acknowledge(intentId: string): void {
    this.o.outbox.remove(intentId);
  }

  /**
   * The broker has no record of this intent (its database was reset or lost
   * the row): a kept result for it would be resent at every handshake for
   * ever. Dropping it on the broker's word gives a compromised broker no new
   * power: results are for the broker alone, and it can already make the
   * agent forget any of them by acknowledging it (result/ack).
   */
  /** The broker refused an approval request of `intentId` (an error frame naming it): its waiting call ends now. */
  approvalRefused(intentId: string, code: string, message: string): void {
    this.#approvals.refusedFor(intentId, code, message);
  }

  forgetRefused(intentId: string): void {
    if (!this.o.outbox.get(intentId)) return;
    this.o.outbox.remove(intentId);
    this.o.log.warn({ event: 'result.dropped', intentId, reason: 'unknown-intent' }, 'the broker does not know this intent; its kept result is dropped');
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
    if (this.#inHand.has(intent.id)) {
      this.o.log.info({ event: 'intent.duplicate', intentId: intent.id }, 'intent already in hand; its result will answer both deliveries');
      return;
    }
    this.#inHand.add(intent.id);
    const cancel = new AbortController();
    this.#cancels.set(intent.id, cancel);
    try {
      await this.#run(intent, session, current, cancel.signal);
    } catch (err) {
      // Fail closed and say so: the broker gets a signed answer even when the agent's disk cannot take one more row.
      const cause = storageFailure(err) ?? (err as Error).message;
      this.o.log.error({ event: 'intent.crashed', intentId: intent.id, err: cause }, 'intent handling failed');
      this.#report({ intentId: intent.id, outcome: 'failed', reason: null, message: `the agent could not handle this intent: ${cause}`, output: null }, false);
    } finally {
      this.#inHand.delete(intent.id);
      this.#cancels.delete(intent.id);
    }
  }

  async #run(intent: IntentBody, session: CertifiedSession, current: () => CertifiedSession | undefined, cancel: AbortSignal): Promise<void> {
    let claimed = false;
    const parsed = parseIntentCall(intent);
    // Read before the durable step below, which cannot wait: what the call reaches on this host, for its rules.
    const facts = parsed.ok && rulesSpeakFor(session.policy, parsed.call) ? await hostFacts(parsed.call, this.o.sandbox) : undefined;
    // A model chose the call of an intent whose signed `via` says so: rules with chosenBy "model" apply to it.
    const chosenBy = chosenByOf(intent.via);
    const rules = parsed.ok ? decideCall(session.policy, parsed.call, chosenBy, facts) : null;
    // The seen id and, for a call that runs at once, the executed request are committed together, before anything runs.
    const decision = this.o.atomically(() => {
      const inputs = this.#policyInputs(intent, session);
      const verdict = checkIntentGates(intent, {
        ...inputs,
        stalenessMs: this.o.stalenessMs,
        // Check and record in one durable step: a replay, even racing, finds it.
        alreadySeen: (id) => !(claimed = this.o.seen.record(id, intent.issuedAt)),
      });
      if (!verdict.ok) return verdict;
      if (!parsed.ok) return parsed;
      if (parsed.call.capability === 'llm_task' && !this.#tasks) {
        return { ok: false as const, reason: 'model-unavailable' as const, message: 'this agent has no model configured (agent start --model-url)' };
      }
      // A deny rule refuses before a reviewer is asked or anything runs, whatever approval could follow.
      const denied = checkCallRules(rules!);
      if (!denied.ok) return denied;
      // Only executed requests count toward the hourly rate; one that waits for reviewers counts when it runs.
      if (rules!.effect === 'allow') this.o.requests.record(inputs.now);
      return { ok: true as const, call: parsed.call, rules: rules! };
    });
    if (!decision.ok) return this.#finish(intent, 'rejected', decision.reason, decision.message, null, claimed);
    const finish = (outcome: ResultBody['outcome'], reason: RejectionReason | null, message: string, output: Record<string, unknown> | null, usage: TokenUsageReport[] = []) =>
      this.#finish(intent, outcome, reason, message, output, true, usage);
    const call = decision.call;
    // Cancelled before it ran (while its host facts were read, or its reviewers decided): it never runs.
    const notRun = () => {
      const by = cancelledBy(cancel);
      return by && finish('rejected', 'cancelled', `${by.message} before it ran`, null);
    };
    if (cancelledBy(cancel)) return notRun();
    if (decision.rules.effect === 'ask') {
      // A person typed these params unless the signed `via` says a model chose them: a person is never one of the
      // reviewers of their own call, whatever the rule says of a model's calls.
      const modelCall = chosenBy === 'model';
      const quorum = quorumOf(decision.rules, modelCall);
      const approval = await this.#approvals.request(intent, { capability: intent.capability, params: intent.params }, session, this.#send, cancel, quorum);
      if (!approval.ok) return finish('rejected', approval.reason, approval.message, null);
      this.o.log.info({ event: 'approval.granted', intentId: intent.id, reviewers: approval.reviewers }, 'the reviewers approved the tool call');
      // What the call reaches may have changed during the wait too; read before the re-check, which must not wait.
      const facts = await hostFacts(call, this.o.sandbox);
      if (cancelledBy(cancel)) return notRun();
      // The wait may have outlived the policy, the rate window or a delegation: decide again on what holds now,
      // and count the execution in the same turn, so calls approved together cannot all pass the rate gate.
      const now = current();
      if (!now) return finish('rejected', 'approval-expired', 'the connection to the broker was lost while waiting for the reviewer', null);
      const again = checkPolicyGates(intent, this.#policyInputs(intent, now));
      if (!again.ok) return finish('rejected', again.reason, again.message, null);
      const ruled = recheckAfterApproval(now.policy, call, facts, { reviewers: approval.reviewers, requester: intent.user, modelCall });
      if (!ruled.ok) return finish('rejected', ruled.reason, ruled.message, null);
      this.o.requests.record(this.#now());
    }
    this.o.log.info({ event: 'intent.executing', intentId: intent.id, capability: intent.capability, user: intent.user }, 'executing intent');
    const progress = new ProgressBatcher((seq, stream, text, usage) => {
      const body = { intentId: intent.id, agent: this.o.identity.did, seq, stream, text, at: this.#now(), ...(usage ? { usage } : {}) };
      this.#send({ type: 'progress', envelope: seal(this.o.identity, 'vaultysclaw/progress/v1', body) });
    });
    if (call.capability === 'llm_task') {
      const task = await this.#tasks!.run(intent, call.params, progress, current, writeAllowance(session.policy, this.o.host), cancel);
      progress.flush();
      if (task.outcome === 'succeeded') return finish('succeeded', null, task.message, task.output, task.usage);
      return finish('failed', task.reason, task.message, task.output, task.usage);
    }
    const policy = (current() ?? session).policy;
    const outcome = await runTool(call, {
      sandbox: this.o.sandbox,
      policy,
      host: this.o.host,
      writes: writeAllowance(policy, this.o.host),
      signal: AbortSignal.any([cancel, AbortSignal.timeout(toolTimeoutMs(call))]),
      onProgress: (stream, text) => progress.push(stream, text),
    });
    progress.flush();
    const stopped = cancelledBy(cancel);
    // What it did before the cancel stays in the signed answer (a command's output so far, its exit by signal).
    if (stopped) return finish('failed', 'cancelled', `${stopped.message}; the tool was stopped`, outcome.ok ? outcome.output : null);
    if (outcome.ok) return finish('succeeded', null, 'done', outcome.output);
    if (outcome.reason === 'failed') return finish('failed', null, outcome.message, null);
    return finish('rejected', outcome.reason, outcome.message, null);
  }

  #policyInputs(intent: IntentBody, session: CertifiedSession) {
    const step = this.#stepInputs(session);
    return { ...step, delegation: () => step.delegation(intent) };
  }

  /** What the gates read from this agent's stores and the session in force. */
  #stepInputs(session: CertifiedSession): StepGateInputs {
    const now = this.#now();
    return {
      now,
      agent: this.o.identity.did,
      policy: session.policy,
      clockSkewMs: this.o.clockSkewMs,
      tokensUsedToday: this.o.tokens.usedToday(now),
      requestsInLastHour: this.o.requests.countSince(now - HOUR_MS),
      delegation: (intent) =>
        checkDelegation(intent, { broker: session.broker, formerBroker: session.formerBroker ?? null, agent: this.o.identity.did, now, clockSkewMs: this.o.clockSkewMs, revocations: this.#revocations }),
      approvals: 'pause',
    };
  }

  /**
   * An intent frame over the wire's limits. Answered only if the pinned broker signed it (a stranger's bytes
   * earn no signed answer), with a refusal under its id: the broker records it and stops resending it.
   */
  refuseUndecodable(envelope: SealedEnvelope, session: CertifiedSession, message: string): void {
    const opened = open(session.broker, 'vaultysclaw/intent/v1', envelope);
    if (!opened.ok) {
      this.o.log.warn({ event: 'intent.refused', reason: opened.reason, detail: message }, 'undecodable intent frame not signed by the broker; ignored');
      return;
    }
    this.#refuseUntrusted(envelope, 'malformed', message);
  }

  /** A refusal before the intent could be trusted: reported under the id it claims, if it has one. */
  #refuseUntrusted(envelope: SealedEnvelope, reason: RejectionReason, message: string): void {
    const decoded = decodeCanonical(envelope.payload);
    const claimed = decoded.ok ? IntentBody.shape.id.safeParse((decoded.value as { body?: { id?: unknown } })?.body?.id) : undefined;
    this.o.log.warn({ event: 'intent.refused', reason, detail: message, claimedId: claimed?.success ? claimed.data : null }, 'untrusted intent refused');
    if (claimed?.success) this.#report({ intentId: claimed.data, outcome: 'rejected', reason, message, output: null }, false);
  }

  #finish(
    intent: IntentBody,
    outcome: ResultBody['outcome'],
    reason: RejectionReason | null,
    message: string,
    output: Record<string, unknown> | null,
    claimed: boolean,
    usage: TokenUsageReport[] = [],
  ): void {
    this.#report({ intentId: intent.id, outcome, reason, message, output, ...(usage.length ? { usage } : {}) }, claimed);
    // Logged once the result is kept: an outcome in the log is never one the broker can miss.
    const level = outcome === 'succeeded' ? 'info' : 'warn';
    this.o.log[level]({ event: `intent.${outcome}`, intentId: intent.id, reason, detail: message }, `intent ${outcome}`);
  }

  /**
   * `durable`: only the one result of a claimed id is kept. A refusal of an
   * unclaimed delivery must never take the place of that result (a replayed
   * or forged frame naming the id of an intent still in progress).
   */
  #report(r: Pick<ResultBody, 'intentId' | 'outcome' | 'reason' | 'message' | 'output' | 'usage'>, durable: boolean): void {
    const body: ResultBody = { ...r, message: r.message.slice(0, 4000), agent: this.o.identity.did, finishedAt: this.#now() };
    const envelope = seal(this.o.identity, 'vaultysclaw/result/v1', body);
    try {
      if (durable) this.o.outbox.put(r.intentId, envelope);
    } catch (err) {
      // Sent anyway: a result that cannot be kept (disk full) is better delivered once than not at all.
      this.o.log.error({ event: 'result.not-kept', intentId: r.intentId, err: storageFailure(err) ?? (err as Error).message }, 'result could not be stored; sending it unkept');
    }
    this.#send({ type: 'result', envelope });
  }
}
