import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import { seal, type SealedEnvelope, type SecretIdentity } from '../../core/identity';
import { checkIntentGates, DEFAULT_CLOCK_SKEW_MS, DEFAULT_STALENESS_MS, HOUR_MS } from '../../core/policy/intent-gates';
import type { IntentView } from '../../core/rpc/views';
import type { IntentBody, ProgressBody, RejectionReason, ResultBody } from '../../core/wire/intent';
import type { Role } from '../../core/rpc/roles';
import { checkDelegation } from '../../core/policy/delegation-gate';
import type { DelegationChoice, DelegationService } from '../delegation/delegation-service';
import type { Capability } from '../../core/wire/policy';
import { ToolCall } from '../../core/wire/tools';
import type { AgentDirectory } from '../agents/agent-directory';
import type { OnlineAgents } from '../agents/online-agents';
import type { BrokerEventBus } from '../events';
import type { AgentConnection } from '../hub/agent-connection';
import { notFound } from '../rpc/rpc-failure';
import type { AgentRegistry } from '../store/agent-registry';
import type { IntentStore } from '../store/intent-store';

export interface DispatchRequest {
  agent: string;
  capability: Capability;
  params: Record<string, unknown>;
}

/**
 * Builds, signs, routes and tracks intents to one final state each: succeeded,
 * failed, rejected (with the reason and who refused) or lost-agent.
 */
export class IntentRouter {
  constructor(
    private readonly identity: SecretIdentity,
    private readonly registry: AgentRegistry,
    private readonly directory: AgentDirectory,
    private readonly online: OnlineAgents,
    private readonly intents: IntentStore,
    private readonly delegations: DelegationService,
    private readonly events: BrokerEventBus,
    private readonly log: pino.Logger,
    private readonly now: () => number,
    private readonly stalenessMs = DEFAULT_STALENESS_MS,
  ) {}

  dispatch(caller: { did: string; role: Role }, request: DispatchRequest): IntentView {
    const record = this.registry.get(request.agent);
    if (!record) throw notFound(`agent ${request.agent}`);
    const now = this.now();
    const id = randomBytes(16).toString('hex');
    const expiresAt = now + this.stalenessMs;
    const choice = this.delegations.delegationFor(caller.did, caller.role, request.agent, request.capability, expiresAt);
    const intent: IntentBody = {
      id,
      agent: request.agent,
      capability: request.capability,
      params: request.params,
      user: caller.did,
      // A refused choice never leaves the broker; the placeholder only lets the gates run in their order.
      delegation: choice.ok ? choice.certificate : { payload: new Uint8Array(), signature: new Uint8Array() },
      revocationVersion: choice.ok ? choice.revocationVersion : 0,
      issuedAt: now,
      expiresAt,
    };
    // One audit line per submission, its outcome included: intent.routed or intent.refused.
    const submitted = { intentId: id, user: caller.did, role: caller.role, agent: intent.agent, capability: intent.capability };

    // Defence in depth: the same gates the agent applies, before anything is signed or sent.
    const refusal = this.#precheck(intent, record.status, choice);
    if (refusal) {
      this.log.warn({ event: 'intent.refused', ...submitted, reason: refusal.reason, detail: refusal.message }, 'intent submitted and refused by the broker');
      return this.#emit(this.intents.recordRefused(intent, refusal.reason, refusal.message, now));
    }
    const connection = this.online.get(intent.agent)!;
    const envelope = seal(this.identity, 'vaultysclaw/intent/v1', intent);
    const view = this.intents.recordSent(intent, envelope, now);
    connection.send({ type: 'intent', envelope });
    this.log.info({ event: 'intent.routed', ...submitted }, 'intent submitted, signed and routed');
    return this.#emit(view);
  }

  #precheck(intent: IntentBody, status: Parameters<AgentDirectory['certifiedPolicy']>[1], choice: DelegationChoice): { reason: RejectionReason; message: string } | undefined {
    const verdict = checkIntentGates(intent, {
      now: intent.issuedAt,
      agent: intent.agent,
      policy: this.directory.certifiedPolicy(intent.agent, status),
      stalenessMs: this.stalenessMs,
      clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
      alreadySeen: () => false,
      tokensUsedToday: 0,
      requestsInLastHour: this.intents.sentSince(intent.agent, intent.issuedAt - HOUR_MS),
      delegation: () =>
        choice.ok
          ? checkDelegation(intent, {
              broker: this.identity.id,
              agent: intent.agent,
              now: intent.issuedAt,
              clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
              revocations: this.delegations.revocationState(),
            }, choice.signedHere)
          : { ok: false, reason: choice.reason, message: choice.message },
      approvals: 'pause',
    });
    if (!verdict.ok) return verdict;
    const call = ToolCall.safeParse({ capability: intent.capability, params: intent.params });
    if (!call.success) {
      const issue = call.error.issues[0];
      return { reason: 'bad-params', message: `${issue?.path.join('.') || 'params'}: ${issue?.message ?? 'invalid'}` };
    }
    if (!this.online.isOnline(intent.agent)) return { reason: 'agent-offline', message: 'the agent is not connected' };
    return undefined;
  }

  /** A result verified against the connection's key (by AgentConnection); here it must match an intent sent to that agent. */
  onResult(connection: AgentConnection, result: ResultBody, envelope: SealedEnvelope): void {
    const intent = this.intents.get(result.intentId);
    if (!intent || intent.agent !== connection.did) {
      this.log.warn({ event: 'result.refused', did: connection.did, intentId: result.intentId, reason: 'unknown-intent' }, 'result for an intent this agent never received');
      connection.send({ type: 'error', code: 'unknown-intent', message: `no intent ${result.intentId} was sent to you` });
      return;
    }
    const recorded = this.intents.recordResult(result, envelope, this.now());
    // A duplicate (e.g. resent after a reconnect) is acknowledged again but never recorded twice.
    connection.send({ type: 'result/ack', intentId: result.intentId });
    if (!recorded) return;
    this.log.info({ event: 'intent.result', intentId: result.intentId, agent: connection.did, outcome: result.outcome, reason: result.reason }, 'signed result recorded');
    this.#emit(recorded);
  }

  onProgress(connection: AgentConnection, progress: ProgressBody): void {
    const intent = this.intents.get(progress.intentId);
    if (!intent || intent.agent !== connection.did) return;
    const running = intent.state === 'sent' ? this.intents.markRunning(intent.id, this.now()) : undefined;
    if (running) this.#emit(running);
    this.events.emit('intentProgress', { intentId: progress.intentId, seq: progress.seq, stream: progress.stream, text: progress.text });
  }

  /** The agent's connection is gone: nothing it had in hand can be answered on it any more. */
  onAgentGone(did: string): void {
    for (const intent of this.intents.inFlight(did)) {
      const lost = this.intents.markLost(intent.id, 'the agent disconnected before answering', this.now());
      if (lost) {
        this.log.warn({ event: 'intent.lost', intentId: intent.id, agent: did }, 'intent lost with its agent');
        this.#emit(lost);
      }
    }
  }

  #emit(view: IntentView): IntentView {
    this.events.emit('intentChanged', view);
    return view;
  }
}
