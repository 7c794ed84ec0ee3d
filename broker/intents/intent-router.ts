import { randomBytes } from 'node:crypto';
import type pino from 'pino';
import { guarded } from '../../core/io/guarded';
import { claimedBody, open, seal, taggedBytes, type SealedEnvelope } from '../../core/identity';
import type { DeliveryReply } from '../../core/cluster/cluster-messages';
import { CLUSTER_BUS_DOWN, delivered, deliverToHolder, type ClusterBus } from '../cluster/cluster-bus';
import { answerDeadline, DEFAULT_ANSWER_MARGIN_MS } from '../../core/policy/answer-deadline';
import { checkIntentGates, DEFAULT_CLOCK_SKEW_MS, DEFAULT_STALENESS_MS, HOUR_MS } from '../../core/policy/intent-gates';
import type { IntentView } from '../../core/rpc/views';
import { IntentBody, type ProgressBody, type RejectionReason, type ResultBody } from '../../core/wire/intent';
import type { Role } from '../../core/rpc/roles';
import { checkDelegation } from '../../core/policy/delegation-gate';
import type { DelegationChoice, DelegationService } from '../delegation/delegation-service';
import type { RevocationState } from '../../core/policy/delegation-gate';
import type { Capability, CertifiedPolicy } from '../../core/wire/policy';
import { MAX_TASK_TIME_MS, parseIntentCall, taskTools, type IntentCall, type TokenUsageReport } from '../../core/wire/task';
import { checkCallRules, chosenByOf, decideCall, type RuleDecision } from '../../core/policy/rules';
import { gateOf } from './gate-names';
import type { AgentDirectory } from '../agents/agent-directory';
import type { OnlineAgents } from '../agents/online-agents';
import type { BrokerEventBus } from '../events';
import type { AgentConnection } from '../hub/agent-connection';
import { readsIntentCancel, readsIntentOrigin, readsRefusedIntentId } from '../../core/wire/hub-messages';
import type { IntentOrigin } from '../../core/wire/intent-origin';
import { INTENT_CANCEL_CONTEXT, type IntentCancelBody } from '../../core/wire/intent-cancel';
import type { ActiveIdentity } from '../identity/active-identity';
import { conflict, forbidden, notFound } from '../rpc/rpc-failure';
import type { AgentRegistry } from '../store/agent-registry';
import type { IntentStore } from '../store/intent-store';
import type { TokenUsageStore } from '../store/token-usage-store';
import type { IntentResendStore } from '../store/intent-resend-store';
import type { PendingCancel, PendingCancelStore } from '../store/pending-cancel-store';
import { BUDGETS } from '../../core/budgets';
import { gateTokenReport } from './token-report-gate';
import { audit } from '../audit/audit-log';
import type { BrokerContext } from '../broker-context';

const fromBase64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));

export const DEFAULT_LOST_AGENT_GRACE_MS = 30_000;

/** An agent not connected here while this node cannot ask the others: refused, not signed into a delivery that cannot leave. */
/** What the gates know of the agent's connection: its facts, nobody holds it (undefined), or the bus could not say. */
type Reach = { version: string | undefined; proven: boolean } | undefined | 'bus-failed';

const BUS_DOWN_OFFLINE = `${CLUSTER_BUS_DOWN}, and the agent is not connected to it; retry once the bus is back, or through the node the agent is connected to`;

/** The pre-check's answer: the first gate that refuses (named for the dry run), or the decision of the rules. */
/** A refusal from the rules or after them names the rules' decision too, so the dry run shows which rule it was. */
export type PrecheckOutcome = { ok: false; gate: string; reason: RejectionReason; message: string; decision?: RuleDecision } | { ok: true; decision: RuleDecision };

export interface Evaluation {
  intent: IntentBody;
  /** The certified policy the gates and rules read. */
  policy: CertifiedPolicy;
  /** The call, when its params parse. */
  call: IntentCall | undefined;
  outcome: PrecheckOutcome;
}

export interface DispatchRequest {
  agent: string;
  capability: Capability;
  params: Record<string, unknown>;
  /** A model chose this intent (the client's word, core/wire/intent-origin.ts); absent: a person did. */
  via?: IntentOrigin | undefined;
}

/** What IntentRouter works with, handed over by Broker as one object. */
export interface IntentRouterContext extends Pick<BrokerContext, 'keys' | 'online' | 'events' | 'log' | 'now' | 'cluster'> {
  registry: AgentRegistry;
  directory: AgentDirectory;
  intents: IntentStore;
  tokens: TokenUsageStore;
  resends: IntentResendStore;
  /** Cancels not answered yet by their agent, re-sent when it reconnects (across broker restarts). */
  cancels: PendingCancelStore;
  delegations: DelegationService;
  /** How long a disconnected agent has to come back and answer before its intents end lost-agent. */
  lostAgentGraceMs?: number;
  stalenessMs?: number;
  /** How long past what an intent may legitimately take its agent may still answer before it ends lost-agent. */
  answerMarginMs?: number;
}

/**
 * Builds, signs, routes and tracks intents to one final state each: succeeded,
 * failed, rejected (with the reason and who refused) or lost-agent.
 */
export class IntentRouter {
  /** Agents gone with intents in flight, until they come back or their grace period ends. */
  readonly #away = new Map<string, NodeJS.Timeout>();
  /** Per online agent, the answer deadline of each intent it holds (see answerDeadline). */
  readonly #deadlines = new Map<string, Map<string, NodeJS.Timeout>>();

  private readonly keys: ActiveIdentity;
  private readonly registry: AgentRegistry;
  private readonly directory: AgentDirectory;
  private readonly online: OnlineAgents;
  private readonly intents: IntentStore;
  private readonly tokens: TokenUsageStore;
  private readonly resends: IntentResendStore;
  private readonly cancels: PendingCancelStore;
  private readonly delegations: DelegationService;
  private readonly events: BrokerEventBus;
  private readonly cluster: ClusterBus;
  private readonly log: pino.Logger;
  private readonly now: () => number;
  private readonly lostAgentGraceMs: number;
  private readonly stalenessMs: number;
  private readonly answerMarginMs: number;

  constructor(c: IntentRouterContext) {
    ({
      keys: this.keys,
      registry: this.registry,
      directory: this.directory,
      online: this.online,
      intents: this.intents,
      tokens: this.tokens,
      resends: this.resends,
      cancels: this.cancels,
      delegations: this.delegations,
      events: this.events,
      cluster: this.cluster,
      log: this.log,
      now: this.now,
      lostAgentGraceMs: this.lostAgentGraceMs = DEFAULT_LOST_AGENT_GRACE_MS,
      stalenessMs: this.stalenessMs = DEFAULT_STALENESS_MS,
      answerMarginMs: this.answerMarginMs = DEFAULT_ANSWER_MARGIN_MS,
    } = c);
  }

  async dispatch(caller: { did: string; role: Role }, request: DispatchRequest): Promise<IntentView> {
    const evaluation = await this.evaluate(caller, request, true);
    const { intent, policy } = evaluation;
    let { outcome } = evaluation;
    // Claimed now, before the awaits below, so that dispatches at once each count against the bound (claimHold).
    const carrier = outcome.ok ? this.online.get(intent.agent) : undefined;
    const claim = carrier?.claimHold(policy.policyVersion);
    if (outcome.ok && carrier && !claim) {
      const message = `the agent has not taken its new policy v${policy.policyVersion} yet and ${BUDGETS.intentsHeldForRenewal.limit} intents already wait for it; retry in a moment`;
      outcome = { ok: false, gate: 'agent online', reason: 'agent-busy', message, decision: outcome.decision };
    }
    // The bus may have gone down since the gates asked the holder: nothing is signed into a delivery that cannot leave.
    if (outcome.ok && !this.online.get(intent.agent) && !this.cluster.connected) {
      outcome = { ok: false, gate: 'agent online', reason: 'agent-offline', message: BUS_DOWN_OFFLINE, decision: outcome.decision };
    }
    try {
      // One audit line per submission, its outcome included: intent.routed or intent.refused.
      // The broker's record and audit keep `via` even where the signed body cannot carry it (an agent before 0.5.0).
      const via = request.via;
      const submitted = { intentId: intent.id, user: caller.did, role: caller.role, agent: intent.agent, capability: intent.capability, ...(via ? { via } : {}) };
      const refuse = async (reason: RejectionReason, message: string) => {
        audit(this.log).warn('intent.refused', { ...submitted, reason, detail: message }, 'intent submitted and refused by the broker');
        return this.#emit(await this.intents.recordRefused(intent, reason, message, intent.issuedAt, via));
      };
      if (!outcome.ok) return await refuse(outcome.reason, outcome.message);
      const envelope = seal(this.keys.identity, 'vaultysclaw/intent/v1', intent);
      // The hourly rate counted again where the row is written: dispatches evaluated at once cannot all pass it.
      const view = await this.intents.recordSentWithin(intent, envelope, intent.issuedAt, via, { since: intent.issuedAt - HOUR_MS, max: policy.maxRequestsPerHour });
      if (!view) return await refuse('rate-limited', `${policy.maxRequestsPerHour} requests in the last hour; the limit is ${policy.maxRequestsPerHour}`);
      // Right after a policy change the agent is still renewing its certificate (update_capabilities): the intent waits for it.
      // Sent on the connection there is now: one gone while the row was written leaves the intent in flight like any other
      // whose agent left (its grace period, then onAgentBack resends it).
      // On another node of a cluster, the node holding the agent sends it and keeps its answer deadline.
      const connection = this.online.get(intent.agent);
      if (connection) {
        connection.sendUnderPolicy({ type: 'intent', envelope }, policy.policyVersion, connection === carrier ? claim : undefined);
        this.#arm(intent, policy, 0);
      } else if (!delivered(await this.cluster.deliver(intent.agent, { kind: 'intent', envelope, policyVersion: policy.policyVersion }))) {
        await this.onAgentGone(intent.agent);
      }
      audit(this.log).info('intent.routed', { ...submitted }, 'intent submitted, signed and routed');
      return this.#emit(view);
    } finally {
      // Not sent (refused, failed): its place is free again. Once sent, this does nothing.
      claim?.release();
    }
  }

  /**
   * What the broker makes of a request before anything is signed or sent: the intent it would sign and the first
   * gate that refuses it, or the decision of the policy's rules. Dispatch and the dry run (policy/test) both read
   * this, so they cannot disagree; `mint` false (the dry run) signs, keeps and records nothing.
   */
  async evaluate(caller: { did: string; role: Role }, request: DispatchRequest, mint: boolean): Promise<Evaluation> {
    const record = await this.registry.get(request.agent);
    if (!record) throw notFound(`agent ${request.agent}`);
    const now = this.now();
    const expiresAt = now + this.stalenessMs;
    const call = parseIntentCall(request);
    // A task's model calls tools under the task's certificate, for as long as the task may run: one the broker mints covers them too.
    const task = call.ok && call.call.capability === 'llm_task' ? call.call.params : undefined;
    const until = task ? expiresAt + (task.timeLimitMs ?? MAX_TASK_TIME_MS) : expiresAt;
    const reach = await this.#reach(request.agent);
    const choice = await this.delegations.delegationFor(caller.did, caller.role, request.agent, request.capability, until, task ? taskTools(task) : [], mint);
    const intent: IntentBody = {
      id: randomBytes(16).toString('hex'),
      agent: request.agent,
      capability: request.capability,
      params: request.params,
      user: caller.did,
      // A refused choice never leaves the broker; the placeholder only lets the gates run in their order.
      delegation: choice.ok ? choice.certificate : { payload: new Uint8Array(), signature: new Uint8Array() },
      revocationVersion: choice.ok ? choice.revocationVersion : 0,
      issuedAt: now,
      expiresAt,
      // Signed only for an agent that reads it: an older agent's strict schema would refuse the whole intent as malformed.
      ...(request.via !== undefined && typeof reach === 'object' && readsIntentOrigin(reach.version) ? { via: request.via } : {}),
    };
    const policy = await this.directory.certifiedPolicy(intent.agent, record.status);
    const counts = {
      tokensUsedToday: await this.directory.tokensToday(intent.agent, intent.issuedAt),
      requestsInLastHour: await this.intents.sentSince(intent.agent, intent.issuedAt - HOUR_MS),
      revocations: await this.delegations.revocationState(),
    };
    return { intent, policy, call: call.ok ? call.call : undefined, outcome: this.#precheck(intent, policy, choice, call, request.via, counts, reach) };
  }

  /**
   * What the gates need of the agent's connection: here, or on another node of a cluster (asked over the bus; its
   * holder answers from the connection). Undefined: no node holds the agent.
   */
  async #reach(did: string): Promise<Reach> {
    const connection = this.online.get(did);
    if (connection) return { version: connection.agentVersion, proven: connection.certifiedBy?.equals(this.keys.identity.id) === true };
    const outcome = await this.cluster.deliver(did, { kind: 'presence' });
    if (outcome === 'failed') return 'bus-failed';
    return delivered(outcome) && outcome.agent ? { version: outcome.agent.version ?? undefined, proven: outcome.agent.proven } : undefined;
  }

  /** Defence in depth: the same gates and rules the agent applies, in its order, then what the wire and the connection need. */
  #precheck(
    intent: IntentBody,
    policy: CertifiedPolicy,
    choice: DelegationChoice,
    call: ReturnType<typeof parseIntentCall>,
    via: IntentOrigin | undefined,
    counts: { tokensUsedToday: number; requestsInLastHour: number; revocations: RevocationState },
    reach: Reach,
  ): PrecheckOutcome {
    const verdict = checkIntentGates(intent, {
      now: intent.issuedAt,
      agent: intent.agent,
      policy,
      stalenessMs: this.stalenessMs,
      clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
      alreadySeen: () => false,
      tokensUsedToday: counts.tokensUsedToday,
      requestsInLastHour: counts.requestsInLastHour,
      delegation: () =>
        choice.ok
          ? checkDelegation(intent, {
              broker: this.keys.identity.id,
              agent: intent.agent,
              now: intent.issuedAt,
              clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
              revocations: counts.revocations,
            }, choice.signedHere)
          : { ok: false, reason: choice.reason, message: choice.message },
      approvals: 'pause',
    });
    if (!verdict.ok) return { ...verdict, gate: gateOf(verdict.reason) };
    if (!call.ok) return { ...call, gate: 'params' };
    // The rules on what the broker can see (no host facts): a denied call is never signed. The agent decides again
    // with what only its host knows (a symlink's target, the path a bare command resolves to), never more leniently.
    // Decided on the requested `via`, signed or not: an agent that cannot read it holds no chosenBy rule (the broker
    // refuses to certify one to it), so where the agent would not see it, it changes nothing.
    const decision = decideCall(policy, call.call, chosenByOf(via));
    const rules = checkCallRules(decision);
    if (!rules.ok) return { ...rules, gate: 'rules', decision };
    // What no receiver accepts is never signed: the agent would drop the frame, reconnect and get it again (finding 4).
    const bytes = taggedBytes('vaultysclaw/intent/v1', intent).length;
    if (bytes > BUDGETS.envelopePayloadBytes.limit) {
      return { ok: false, gate: 'params', reason: 'bad-params', message: `the signed intent would be ${bytes} bytes; the wire carries at most ${BUDGETS.envelopePayloadBytes.limit}`, decision };
    }
    // A bus that failed to answer (going down, not noticed yet) cannot say where the agent is: said as such.
    if (reach === 'bus-failed' || (!reach && !this.cluster.connected)) return { ok: false, gate: 'agent online', reason: 'agent-offline', message: BUS_DOWN_OFFLINE, decision };
    if (!reach) return { ok: false, gate: 'agent online', reason: 'agent-offline', message: 'the agent is not connected', decision };
    // Signed with a key this connection has not proven yet, it would be refused as a bad signature: say why instead.
    if (!reach.proven) {
      return { ok: false, gate: 'agent online', reason: 'agent-busy', message: 'the agent is renewing its handshake after a broker identity rotation; retry in a moment', decision };
    }
    return { ok: true, decision };
  }

  /**
   * Ends an intent not final yet as `cancelled`, for its requester or an admin (the role table lets every dispatcher
   * call this; only here is "own intent" known). Its pending approvals end with it (Broker: onIntentFinal). The
   * agent, if connected, gets a signed order to stop the tool or drop the call waiting for a reviewer; its signed
   * answer is kept as a late result and never changes the final state.
   */
  async cancel(caller: { did: string; role: Role }, id: string): Promise<IntentView> {
    const intent = await this.intents.get(id);
    if (!intent) throw notFound(`intent ${id}`);
    if (intent.user !== caller.did && caller.role !== 'admin' && caller.role !== 'owner') {
      throw forbidden('only the user who dispatched an intent, or an admin, may cancel it');
    }
    const from = intent.state;
    const now = this.now();
    const cancelled = await this.intents.markCancelled(id, `cancelled by ${caller.did}`, now);
    if (!cancelled) throw conflict(`intent ${id} already ended ${(await this.intents.get(id))?.state ?? 'final'}; there is nothing to cancel`);
    this.#disarm(intent.agent, id);
    const pending: PendingCancel = { intentId: id, agent: intent.agent, cancelledBy: caller.did };
    // Kept until the agent answers, told now or not: an agent offline now, or whose connection drops before the
    // frame arrives, is told again when it comes back (onAgentBack), instead of running the tool on.
    for (const dropped of await this.cancels.record(pending, now)) {
      audit(this.log).warn('intent.cancel-dropped', { intentId: dropped, agent: intent.agent, reason: 'agent-budget' }, 'an older unanswered cancel given up: its agent has too many');
    }
    const connection = this.online.get(intent.agent);
    const agentTold = connection ? this.#tellCancel(connection, pending) : delivered(await deliverToHolder(this.cluster, this.online, intent.agent, { kind: 'intentCancel', intentId: id }));
    audit(this.log).warn('intent.cancelled', { intentId: id, agent: intent.agent, user: intent.user, by: caller.did, role: caller.role, from, agentTold }, 'intent cancelled');
    return this.#emit(cancelled);
  }

  /**
   * Sends the signed order to stop one intent, signed now: the agent refuses a cancel older than its staleness
   * window, so one kept while it was away is signed afresh, never replayed. False when this connection cannot take
   * it: an agent before 0.4.0 would drop its connection over the frame (it runs on, and its answer comes late), and
   * one that has not proven this broker key yet would refuse the signature.
   */
  #tellCancel(connection: AgentConnection, cancel: PendingCancel): boolean {
    if (!readsIntentCancel(connection.agentVersion) || connection.certifiedBy?.equals(this.keys.identity.id) !== true) return false;
    const body: IntentCancelBody = { ...cancel, at: this.now() };
    connection.send({ type: 'intent/cancel', envelope: seal(this.keys.identity, INTENT_CANCEL_CONTEXT, body) });
    return true;
  }

  /**
   * An intent another node of the cluster signed and recorded, for an agent whose connection is here. The bus is
   * not believed: the envelope must open under this broker's id, name this agent, and its row be in flight.
   */
  async deliverFromPeer(connection: AgentConnection, envelope: SealedEnvelope, policyVersion: number): Promise<DeliveryReply> {
    const opened = open(this.keys.identity.id, 'vaultysclaw/intent/v1', envelope);
    const body = opened.ok ? IntentBody.safeParse(opened.body) : undefined;
    if (!body?.success || body.data.agent !== connection.did) return { ok: false, message: 'not an intent this broker signed for this agent' };
    const row = await this.intents.get(body.data.id);
    if (!row || row.agent !== connection.did || (row.state !== 'sent' && row.state !== 'running')) return { ok: false, message: `intent ${body.data.id} is not in flight` };
    connection.sendUnderPolicy({ type: 'intent', envelope }, policyVersion);
    if (connection.certifiedPolicy) this.#arm(body.data, connection.certifiedPolicy, 0);
    return { ok: true };
  }

  /** A cancel made on another node of the cluster, for an agent whose connection is here: the kept cancel, signed now. */
  async cancelFromPeer(connection: AgentConnection, intentId: string): Promise<DeliveryReply> {
    const cancel = (await this.cancels.forAgent(connection.did!)).find((c) => c.intentId === intentId);
    if (!cancel) return { ok: false, message: `no cancel of intent ${intentId} is kept for this agent` };
    this.#disarm(connection.did!, intentId);
    return { ok: this.#tellCancel(connection, cancel) };
  }

  /** The agent authenticated on another node of the cluster: that node re-sends what is in flight and keeps its deadlines. */
  onAgentBackElsewhere(did: string): void {
    clearTimeout(this.#away.get(did));
    this.#away.delete(did);
    for (const timer of this.#deadlines.get(did)?.values() ?? []) clearTimeout(timer);
    this.#deadlines.delete(did);
  }

  /** A result verified against the connection's key (by AgentConnection); here it must match an intent sent to that agent. */
  async onResult(connection: AgentConnection, result: ResultBody, envelope: SealedEnvelope): Promise<void> {
    const intent = await this.intents.get(result.intentId);
    if (!intent || intent.agent !== connection.did) return this.#refuseUnknown(connection, 'result', result.intentId);
    const now = this.now();
    const recorded = await this.intents.recordResult(result, envelope, now);
    const late = recorded ? undefined : await this.intents.recordLateResult(result, envelope, now);
    // Counted once, with the result that ends the intent: even one too late to change it (lost with its
    // connection), never a duplicate nor a result for an intent already answered.
    await this.#recordUsage(connection, intent.id, result.usage ?? [], recorded !== undefined || late !== undefined);
    // A duplicate (e.g. resent after a reconnect) is acknowledged again but never recorded twice.
    connection.send({ type: 'result/ack', intentId: result.intentId });
    const view = recorded ?? late;
    if (recorded) this.#disarm(intent.agent, intent.id);
    // Answered: its cancel, if it was cancelled, need not be sent again.
    if (intent.state === 'cancelled') await this.cancels.forget(intent.id);
    if (!view) return;
    const fields = { intentId: result.intentId, agent: connection.did, outcome: result.outcome, reason: result.reason };
    if (late) audit(this.log).warn('intent.late-result', { ...fields }, `signed result kept for an intent already ended ${late.state}`);
    else audit(this.log).info('intent.result', { ...fields }, 'signed result recorded');
    this.#emit(view);
  }

  async onProgress(connection: AgentConnection, progress: ProgressBody, envelope?: SealedEnvelope): Promise<void> {
    const intent = await this.intents.get(progress.intentId);
    if (!intent || intent.agent !== connection.did) return this.#refuseUnknown(connection, 'progress', progress.intentId);
    const inFlight = intent.state === 'sent' || intent.state === 'running';
    const running = intent.state === 'sent' ? await this.intents.markRunning(intent.id, this.now()) : undefined;
    if (running) this.#emit(running);
    if (progress.usage) await this.#recordUsage(connection, intent.id, [progress.usage], inFlight);
    this.events.emit('intentProgress', { intentId: progress.intentId, user: intent.user, agent: intent.agent, seq: progress.seq, stream: progress.stream, text: progress.text, ...(envelope ? { envelope } : {}) });
  }

  /**
   * Definitive: no intent of that id was ever sent to this agent (or its row
   * was lost with the database). Naming the intent lets the agent stop
   * resending a result kept for it.
   */
  #refuseUnknown(connection: AgentConnection, what: 'result' | 'progress', intentId: string): void {
    connection.auditRefusal({ event: `${what}.refused`, did: connection.did, intentId, reason: 'unknown-intent' }, `${what} for an intent this agent never received`);
    const named = readsRefusedIntentId(connection.agentVersion) ? { intentId } : {};
    connection.send({ type: 'error', code: 'unknown-intent', message: `no intent ${intentId} was sent to you`, ...named });
  }

  /** What the agent signed about its model tokens, within what it may claim (gateTokenReport); clients see the agent's new daily total. */
  async #recordUsage(connection: AgentConnection, intentId: string, usage: readonly TokenUsageReport[], inFlight: boolean): Promise<void> {
    const agent = connection.did!;
    const at = { now: this.now(), inFlight, maxTokensPerDay: connection.certifiedPolicy?.maxTokensPerDay ?? 0 };
    let counted = 0;
    for (const report of usage) {
      const verdict = gateTokenReport(report, at);
      if (!verdict.ok) {
        connection.auditRefusal({ event: 'tokens.refused', did: agent, intentId, day: report.day, reason: verdict.reason, detail: verdict.message }, 'token report not counted');
        continue;
      }
      if (verdict.clamped) {
        connection.auditRefusal({ event: 'tokens.clamped', did: agent, intentId, day: report.day, claimed: report.tokens, counted: verdict.tokens }, "token report above the certificate's daily budget counted as that budget");
      }
      await this.tokens.report(agent, intentId, { day: report.day, tokens: verdict.tokens });
      counted++;
    }
    if (counted === 0) return;
    audit(this.log).info('tokens.reported', { intentId, agent, usage }, 'agent reported model tokens');
    const view = await this.directory.get(agent);
    if (view) this.events.emit('agentChanged', view);
  }

  /**
   * The agent's connection is gone (or the broker restarted). Its intents stay
   * in flight for a grace period: an agent that comes back resends the signed
   * results it kept and gets its unanswered intents again (onAgentBack). Only
   * an agent that stays away ends them lost-agent.
   */
  async onAgentGone(did: string): Promise<void> {
    // Away, the grace period decides: an agent cannot answer while it has no connection.
    for (const timer of this.#deadlines.get(did)?.values() ?? []) clearTimeout(timer);
    this.#deadlines.delete(did);
    if (this.#away.has(did)) return;
    const inFlight = await this.intents.inFlight(did);
    // Asked again after the read: another call may have started the grace period, or the agent come back, meanwhile.
    if (inFlight.length === 0 || this.#away.has(did) || this.online.isOnline(did)) return;
    const timer = setTimeout(this.#guarded('grace-period', async () => {
      this.#away.delete(did);
      if (this.online.isOnline(did)) return;
      // While the bus is down, or the holder did not answer in time, this node cannot tell whether another node holds
      // the agent: another grace period, never an end on a guess.
      if (!this.cluster.connected) return this.onAgentGone(did);
      const presence = await this.cluster.deliver(did, { kind: 'presence' });
      if (presence === 'failed') return this.onAgentGone(did);
      // In a cluster, an agent back on another node answers there (its agentBack may have been lost with the bus).
      if (delivered(presence)) return this.#redeliver(did);
      await this.#markLost(did);
    }), this.lostAgentGraceMs);
    timer.unref();
    this.#away.set(did, timer);
  }

  /**
   * The agent is held by another node, and what this node delivered there may never have arrived (the bus went down
   * or its holder did not answer): what it has not started goes to it again. The agent runs each id once (its
   * seen-ids), and its holder checks each is still in flight.
   */
  async #redeliver(did: string): Promise<void> {
    for (const intent of await this.intents.inFlight(did)) {
      if (intent.state !== 'sent' || !intent.signedIntent) continue;
      const envelope = { payload: fromBase64(intent.signedIntent.payload), signature: fromBase64(intent.signedIntent.signature) };
      // Policy version 0: a resend waits for no renewal, as onAgentBack's does not.
      if (!delivered(await this.cluster.deliver(did, { kind: 'intent', envelope, policyVersion: 0 }))) return this.onAgentGone(did);
      audit(this.log).info('intent.redelivered', { intentId: intent.id, agent: did, node: this.cluster.nodeName }, 'intent in flight delivered again to the node holding its agent');
    }
  }

  /**
   * A new connection of the agent, authenticated and given the current
   * revocation list: every intent still in flight goes to it again, signed as
   * it was. The agent answers each exactly once — from its kept result, its
   * seen-id store (never a second run), or by running one it never received.
   */
  async onAgentBack(connection: AgentConnection): Promise<void> {
    const did = connection.did!;
    clearTimeout(this.#away.get(did));
    this.#away.delete(did);
    const inFlight = await this.intents.inFlight(did);
    const counts = await this.resends.count(inFlight.map((intent) => intent.id));
    for (const [i, intent] of inFlight.entries()) {
      const resends = counts[i]!;
      if (resends > BUDGETS.intentResends.limit) {
        await this.#endUnanswered(intent.id, did, resends - 1);
        continue;
      }
      const signed = intent.signedIntent!;
      const envelope = { payload: fromBase64(signed.payload), signature: fromBase64(signed.signature) };
      connection.send({ type: 'intent', envelope });
      // At least a margin from now: a deadline that passed while the agent was away leaves it time to send the result it kept.
      const body = sentBody(envelope);
      if (body) this.#arm(body, connection.certifiedPolicy!, this.now() + this.answerMarginMs);
      audit(this.log).info('intent.resent', { intentId: intent.id, agent: did, resends }, 'intent in flight resent after the agent reconnected');
    }
    await this.#resendCancels(connection);
  }

  /**
   * Cancelled intents are final, so never among those resent above; what the agent still holds of them (a tool
   * running on through a dropped connection, a claimed call) is stopped by their cancels, signed again here. A
   * cancel the agent keeps not answering (it never had the intent, or lost it with its disk) is given up after
   * BUDGETS.intentResends reconnects, like an intent.
   */
  async #resendCancels(connection: AgentConnection): Promise<void> {
    const did = connection.did!;
    const pending = await this.cancels.forAgent(did);
    if (pending.length === 0 || !readsIntentCancel(connection.agentVersion)) return;
    const counts = await this.cancels.countResends(pending.map((c) => c.intentId));
    for (const [i, cancel] of pending.entries()) {
      const resends = counts[i]!;
      if (resends > BUDGETS.intentResends.limit) {
        await this.cancels.forget(cancel.intentId);
        audit(this.log).warn('intent.cancel-dropped', { intentId: cancel.intentId, agent: did, reason: 'resend-limit' }, 'cancel given up: its agent never answered it across reconnects');
        continue;
      }
      if (!this.#tellCancel(connection, cancel)) return;
      audit(this.log).info('intent.cancel-resent', { intentId: cancel.intentId, agent: did, resends }, 'cancel its agent had not answered signed again to its new connection');
    }
  }

  /** An intent whose agent's connections keep ending while it holds it (it cannot take it, or will not): it ends here. */
  async #endUnanswered(intentId: string, did: string, resends: number): Promise<void> {
    const lost = await this.intents.markLost(intentId, `sent ${resends + 1} times; the agent's connection closed each time before it answered`, this.now());
    if (!lost) return;
    this.#disarm(did, intentId);
    audit(this.log).warn('intent.lost', { intentId, agent: did, reason: 'resend-limit', resends }, 'intent ended: its agent never answered it across reconnects');
    this.#emit(lost);
  }

  close(): void {
    for (const timer of this.#away.values()) clearTimeout(timer);
    this.#away.clear();
    for (const timers of this.#deadlines.values()) for (const timer of timers.values()) clearTimeout(timer);
    this.#deadlines.clear();
  }

  /**
   * An online agent that holds an intent past what it may legitimately take
   * (hung, or compromised and silent) would keep it, and its user, waiting
   * for ever: past its answer deadline the intent ends lost-agent. A signed
   * result that comes later still is kept as a late result.
   */
  #arm(intent: IntentBody, policy: CertifiedPolicy, notBefore: number): void {
    const deadline = Math.max(answerDeadline(intent, policy, this.answerMarginMs), notBefore);
    const timers = this.#deadlines.get(intent.agent) ?? new Map<string, NodeJS.Timeout>();
    clearTimeout(timers.get(intent.id));
    const timer = setTimeout(this.#guarded('answer-deadline', async () => {
      // Timers run on the monotonic clock, deadlines on the wall clock: a timer may fire a millisecond early, and
      // an intent never ends before its deadline.
      if (this.now() < deadline) return this.#arm(intent, policy, deadline);
      this.#disarm(intent.agent, intent.id);
      const lost = await this.intents.markLost(intent.id, `the agent did not answer in time (by ${new Date(deadline).toISOString()})`, this.now());
      if (!lost) return;
      audit(this.log).warn('intent.lost', { intentId: intent.id, agent: intent.agent, reason: 'answer-deadline', deadline }, 'the agent did not answer in time');
      this.#emit(lost);
    }), Math.max(0, deadline - this.now()));
    timer.unref();
    timers.set(intent.id, timer);
    this.#deadlines.set(intent.agent, timers);
  }

  #disarm(agent: string, intentId: string): void {
    const timers = this.#deadlines.get(agent);
    clearTimeout(timers?.get(intentId));
    timers?.delete(intentId);
    if (timers?.size === 0) this.#deadlines.delete(agent);
  }

  async #markLost(did: string): Promise<void> {
    const message = `the agent did not come back within ${this.lostAgentGraceMs / 1000} s to answer`;
    for (const intent of await this.intents.inFlight(did)) {
      const lost = await this.intents.markLost(intent.id, message, this.now());
      if (lost) {
        audit(this.log).warn('intent.lost', { intentId: intent.id, agent: did }, 'intent lost with its agent');
        this.#emit(lost);
      }
    }
  }

  /**
   * A node of a cluster killed -9 takes its agents' grace periods and answer deadlines with it and tells no one: an
   * agent that never comes back would leave its intents in flight for ever. Every node (and a node starting) looks
   * for agents with intents in flight that no node holds (no holder answers on the bus) and starts their grace
   * period here; its end asks again before it ends anything, and ending is a conditional UPDATE (IntentStore.markLost),
   * so nodes doing this at once end each intent once. An agent held by another node, or one the bus cannot tell
   * about now, is left alone.
   */
  async adoptOrphans(): Promise<void> {
    for (const did of await this.intents.agentsWithIntentsInFlight()) {
      if (this.online.isOnline(did) || this.#away.has(did)) continue;
      const presence = await this.cluster.deliver(did, { kind: 'presence' });
      if (presence === 'failed' || delivered(presence)) continue;
      await this.onAgentGone(did);
      // The dead node never said the agent left: said here for it, every other node asks for itself (ClusterNode).
      this.cluster.broadcast({ kind: 'agentGone', did });
      if (!this.online.isOnlineAnywhere(did)) continue;
      // This node still showed it online from the dead node's last agentBack: its clients see it offline now.
      this.online.heldElsewhere(did, undefined);
      const view = await this.directory.get(did);
      if (view) this.events.fromPeer('agentChanged', view);
    }
  }

  /** A timer's callback: a failure (the database unwritable, say) is audited, never thrown into the event loop. */
  #guarded(timer: string, callback: () => void | Promise<void>): () => void {
    return guarded((err) => audit(this.log).error('router.internal-error', { timer, err: (err as Error)?.message ?? String(err) }, 'an intent timer failed'), callback);
  }

  #emit(view: IntentView): IntentView {
    this.events.emit('intentChanged', view);
    return view;
  }
}

/** The body of an intent this broker signed and stored: its expiry and call are what its answer deadline reads. */
function sentBody(envelope: SealedEnvelope): IntentBody | undefined {
  const parsed = IntentBody.safeParse(claimedBody(envelope.payload));
  return parsed.success ? parsed.data : undefined;
}
