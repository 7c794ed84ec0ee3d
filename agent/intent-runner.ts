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
import { ToolCall } from '../core/wire/tools';
import type { RequestWindow } from './store/request-window';
import type { SeenIntentStore } from './store/seen-intents';
import type { TokenLedger } from './store/token-ledger';
import { runTool } from './tools';
import type { WorkspaceSandbox } from './tools/sandbox';

/** What the current certificate says: the only source of the broker key and the policy. */
export interface CertifiedSession {
  broker: VaultysId;
  policy: CertifiedPolicy;
}

export interface IntentRunnerOptions {
  identity: SecretIdentity;
  sandbox: WorkspaceSandbox;
  seen: SeenIntentStore;
  requests: RequestWindow;
  tokens: TokenLedger;
  /** Runs `fn` as one transaction of the stores' database, on disk when it returns (one fsync for the seen id and the request). */
  atomically: <T>(fn: () => T) => T;
  stalenessMs: number;
  clockSkewMs: number;
  log: pino.Logger;
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
  #send: (frame: AgentFrame) => void = () => {};
  #revocations: RevocationState = NO_REVOCATIONS;

  constructor(private readonly o: IntentRunnerOptions) {
    this.#now = o.now ?? Date.now;
    this.#approvals = new ApprovalWaiter(o.identity, o.sandbox.root, o.log, this.#now);
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
    const needsApproval = session.policy.approvalRequired.includes(intent.capability);
    // The seen id and, for a call that runs at once, the executed request are committed together, before anything runs.
    const decision = this.o.atomically(() => {
      const inputs = this.#policyInputs(intent, session);
      const verdict = checkIntentGates(intent, {
        ...inputs,
        stalenessMs: this.o.stalenessMs,
        // Check and record in one durable step: a replay, even racing, finds it.
        alreadySeen: (id) => !this.o.seen.record(id, intent.issuedAt),
      });
      if (!verdict.ok) return verdict;
      const call = ToolCall.safeParse({ capability: intent.capability, params: intent.params });
      if (!call.success) {
        const issue = call.error.issues[0];
        return { ok: false as const, reason: 'bad-params' as const, message: `${issue?.path.join('.') || 'params'}: ${issue?.message ?? 'invalid'}` };
      }
      // Only executed requests count toward the hourly rate; one that waits for a reviewer counts when it runs.
      if (!needsApproval) this.o.requests.record(inputs.now);
      return { ok: true as const, call: call.data };
    });
    if (!decision.ok) return this.#finish(intent, 'rejected', decision.reason, decision.message, null);
    const call = decision.call;
    if (needsApproval) {
      const approval = await this.#approvals.request(intent, session, this.#send);
      if (!approval.ok) return this.#finish(intent, 'rejected', approval.reason, approval.message, null);
      this.o.log.info({ event: 'approval.granted', intentId: intent.id, reviewer: approval.reviewer }, 'a reviewer approved the tool call');
      // The wait may have outlived the policy, the rate window or a delegation: decide again on what holds now.
      const now = current();
      if (!now) return this.#finish(intent, 'rejected', 'approval-expired', 'the connection to the broker was lost while waiting for the reviewer', null);
      const again = checkPolicyGates(intent, this.#policyInputs(intent, now));
      if (!again.ok) return this.#finish(intent, 'rejected', again.reason, again.message, null);
      this.o.requests.record(this.#now());
    }
    this.o.log.info({ event: 'intent.executing', intentId: intent.id, capability: intent.capability, user: intent.user }, 'executing intent');
    const progress = new ProgressBatcher((seq, stream, text) => {
      const body = { intentId: intent.id, agent: this.o.identity.did, seq, stream, text, at: this.#now() };
      this.#send({ type: 'progress', envelope: seal(this.o.identity, 'vaultysclaw/progress/v1', body) });
    });
    const outcome = await runTool(call, {
      sandbox: this.o.sandbox,
      signal: AbortSignal.timeout(intent.capability === 'run_command' ? (call.params as { timeoutMs: number }).timeoutMs + 5_000 : 60_000),
      onProgress: (stream, text) => progress.push(stream, text),
    });
    progress.flush();
    if (outcome.ok) return this.#finish(intent, 'succeeded', null, 'done', outcome.output);
    if (outcome.reason === 'failed') return this.#finish(intent, 'failed', null, outcome.message, null);
    return this.#finish(intent, 'rejected', outcome.reason, outcome.message, null);
  }

  #policyInputs(intent: IntentBody, session: CertifiedSession) {
    const now = this.#now();
    return {
      now,
      agent: this.o.identity.did,
      policy: session.policy,
      clockSkewMs: this.o.clockSkewMs,
      tokensUsedToday: this.o.tokens.usedToday(now),
      requestsInLastHour: this.o.requests.countSince(now - HOUR_MS),
      delegation: () =>
        checkDelegation(intent, { broker: session.broker, agent: this.o.identity.did, now, clockSkewMs: this.o.clockSkewMs, revocations: this.#revocations }),
      approvals: 'pause' as const,
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
  ): void {
    const level = outcome === 'succeeded' ? 'info' : 'warn';
    this.o.log[level]({ event: `intent.${outcome}`, intentId: intent.id, reason, detail: message }, `intent ${outcome}`);
    this.#report({ intentId: intent.id, outcome, reason, message, output });
  }

  #report(r: Pick<ResultBody, 'intentId' | 'outcome' | 'reason' | 'message' | 'output'>): void {
    const body: ResultBody = { ...r, message: r.message.slice(0, 4000), agent: this.o.identity.did, finishedAt: this.#now() };
    const envelope = seal(this.o.identity, 'vaultysclaw/result/v1', body);
    this.#unacknowledged.set(r.intentId, envelope);
    this.#send({ type: 'result', envelope });
  }
}
