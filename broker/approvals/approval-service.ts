import type { Page, PageRequest } from '../../core/rpc/pages';
import { createHash } from 'node:crypto';
import { DEFAULT_CLOCK_SKEW_MS } from '../../core/policy/intent-gates';
import { BUDGETS } from '../../core/budgets';
import { readsRefusedIntentId } from '../../core/wire/hub-messages';
import type { CertifiedPolicy } from '../../core/wire/policy';
import type pino from 'pino';
import { open, seal, VaultysId, type SealedEnvelope } from '../../core/identity';
import type { Role } from '../../core/rpc/roles';
import type { ApprovalView, IntentView } from '../../core/rpc/views';
import { IntentCall, taskTools } from '../../core/wire/task';
import { ToolCall } from '../../core/wire/tools';
import { decideCall } from '../../core/policy/rules';
import { ApprovalDecisionBody, type ApprovalRequestBody, type ApprovalCountersignBody, type ApprovalDecisionBundle } from '../../core/wire/approval';
import type { OnlineAgents } from '../agents/online-agents';
import type { BrokerEventBus } from '../events';
import type { AgentConnection } from '../hub/agent-connection';
import type { ActiveIdentity } from '../identity/active-identity';
import { clusterUnavailable, conflict, forbidden, invalid, notFound } from '../rpc/rpc-failure';
import type { ApprovalStore } from '../store/approval-store';
import type { IntentStore } from '../store/intent-store';
import type { UserService } from '../users/user-service';
import { guarded } from '../../core/io/guarded';
import { audit } from '../audit/audit-log';
import type { BrokerContext } from '../broker-context';
import { CLUSTER_BUS_DOWN, delivered, deliverToHolder, type ClusterBus } from '../cluster/cluster-bus';
import { UndeliveredDecisions, type DecisionHandOver } from './undelivered-decisions';
import type { DeliveryReply } from '../../core/cluster/cluster-messages';

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A request asks about the intent's own call, or, for an llm_task, about a
 * call its model made: one of the task's tools, with arguments that tool accepts.
 */
function describesCall(intent: IntentView, r: ApprovalRequestBody): boolean {
  if (intent.capability === r.capability && sameJson(intent.params, r.params)) return true;
  const task = IntentCall.safeParse({ capability: intent.capability, params: intent.params });
  if (!task.success || task.data.capability !== 'llm_task') return false;
  return taskTools(task.data.params).some((tool) => tool === r.capability) && ToolCall.safeParse({ capability: r.capability, params: r.params }).success;
}

/**
 * A call a model chose: the intent's own call when a model dispatched it (`via`, in the broker's own record), or,
 * for an llm_task, a request about one of its tools, not about the task itself (whose params the user typed).
 */
function isModelCall(intent: IntentView, r: Pick<ApprovalRequestBody, 'capability'>): boolean {
  return intent.via !== undefined || (intent.capability === 'llm_task' && r.capability !== 'llm_task');
}

/** What ApprovalService works with, handed over by Broker as one object. */
export interface ApprovalServiceContext extends Pick<BrokerContext, 'keys' | 'online' | 'events' | 'log' | 'now' | 'cluster'> {
  approvals: ApprovalStore;
  intents: IntentStore;
  users: UserService;
  approvalTimeoutMs: number;
  /**
   * The policy an approved agent's certificate follows, as stored: what the rules are read from when its connection
   * is on another node of a cluster (the agent then checks the decision against the rules it holds, as always).
   */
  storedPolicyOf(did: string): Promise<CertifiedPolicy | undefined>;
}

/**
 * Tool approvals (seed control 9): requests from agents, persisted and shown
 * to reviewers; decisions signed by the reviewer's own key, checked (role,
 * not their own intent, not expired) and countersigned by the broker, then
 * delivered to the waiting agent.
 */
export class ApprovalService {
  /** Per connection, so a decision held for one that has since dropped goes nowhere (its intents ended as lost-agent). */
  readonly #held = new WeakMap<AgentConnection, ApprovalDecisionBundle[]>();
  /** The requests each connection made: its agent rejects them itself when that connection closes (ApprovalWaiter.abandonAll). */
  readonly #askedOn = new WeakMap<AgentConnection, Set<string>>();
  readonly #sweep: NodeJS.Timeout;

  private readonly keys: ActiveIdentity;
  private readonly approvals: ApprovalStore;
  private readonly intents: IntentStore;
  private readonly users: UserService;
  private readonly online: OnlineAgents;
  private readonly events: BrokerEventBus;
  private readonly cluster: ClusterBus;
  private readonly log: pino.Logger;
  private readonly now: () => number;
  private readonly approvalTimeoutMs: number;
  private readonly storedPolicyOf: ApprovalServiceContext['storedPolicyOf'];
  readonly #undelivered: UndeliveredDecisions;

  constructor(c: ApprovalServiceContext) {
    ({
      keys: this.keys,
      approvals: this.approvals,
      intents: this.intents,
      users: this.users,
      online: this.online,
      events: this.events,
      cluster: this.cluster,
      log: this.log,
      now: this.now,
      approvalTimeoutMs: this.approvalTimeoutMs,
      storedPolicyOf: this.storedPolicyOf,
    } = c);
    this.#sweep = setInterval(
      guarded((err) => audit(this.log).error('broker.internal-error', { what: 'approval-expiry', err: (err as Error)?.message ?? String(err) }, 'could not expire approval requests'), () => this.expireDue()),
      1000,
    );
    this.#sweep.unref();
    this.#undelivered = new UndeliveredDecisions((agent, bundle) => this.#deliver(agent, bundle), this.now, this.log, this.cluster.nodeName);
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#undelivered.close();
  }

  /** An agent's signed request, verified against its connection's key and read as this agent's by AgentConnection. */
  async onRequest(connection: AgentConnection, r: ApprovalRequestBody, envelope: SealedEnvelope): Promise<void> {
    const refuse = (code: string, message: string) => {
      connection.auditRefusal({ event: 'approval.refused', did: connection.did, code, detail: message }, 'approval request refused');
      // Named, for an agent that reads it: its call waiting on this request ends now instead of at its timeout.
      connection.send({ type: 'error', code, message, ...(readsRefusedIntentId(connection.agentVersion) ? { intentId: r.intentId } : {}) });
    };
    const intent = await this.intents.get(r.intentId);
    // The request must be for an intent in flight on this agent, and ask about exactly that intent's call.
    if (!intent || intent.agent !== connection.did || (intent.state !== 'sent' && intent.state !== 'running')) {
      return refuse('unknown-intent', `no intent ${r.intentId} is in flight on this agent`);
    }
    if (intent.user !== r.user || !describesCall(intent, r)) {
      return refuse('approval-mismatch', 'the approval request does not describe the intent it names');
    }
    // The timeout is the broker's, carried in the certificate: an agent cannot keep a request open longer.
    const now = this.now();
    const limit = now + this.approvalTimeoutMs + DEFAULT_CLOCK_SKEW_MS;
    if (!(r.expiresAt <= limit) || !(r.requestedAt <= now + DEFAULT_CLOCK_SKEW_MS)) {
      return refuse('approval-timeout', 'the approval request runs past the timeout carried in the certificate');
    }
    // Each request is a row and an audit line: without the bounds below a compromised agent opens them at the hub's frame
    // rate for as long as its task runs. An honest agent awaits each decision before its next call, so they cost it nothing.
    // What #endGivenUp ends first is what its agent gave up on: not counted as waiting.
    await this.#endGivenUp(r.intentId, now);
    // Checked where the row is written, in one transaction: two requests of one intent at once cannot both pass.
    const added = await this.approvals.addWithin(r, envelope, isModelCall(intent, r), {
      perIntent: BUDGETS.approvalRequestsPerIntent.limit,
      pendingPerIntent: BUDGETS.pendingApprovalRequestsPerIntent.limit,
    });
    if (added === 'replay') return refuse('replay', `approval request ${r.requestId} already exists`);
    if (added === 'approval-limit') return refuse('approval-limit', `intent ${r.intentId} already made ${BUDGETS.approvalRequestsPerIntent.limit} approval requests, the most one intent may make`);
    if (added === 'approval-pending') return refuse('approval-pending', `intent ${r.intentId} already has an approval request waiting for a reviewer: an agent asks about one call at a time`);
    const view = added;
    this.#askedOn.set(connection, (this.#askedOn.get(connection) ?? new Set()).add(r.requestId));
    audit(this.log).info('approval.requested', { requestId: r.requestId, intentId: r.intentId, agent: r.agent, user: r.user, capability: r.capability, expiresAt: r.expiresAt }, 'tool call awaits a reviewer');
    this.events.emit('approvalChanged', view);
  }

  async decide(caller: { did: string; role: Role }, envelope: SealedEnvelope): Promise<ApprovalView> {
    const idBase64 = await this.users.idOf(caller.did);
    if (!idBase64) throw forbidden('unknown user');
    const opened = open(VaultysId.fromBase64(idBase64), 'vaultysclaw/approval-decision/v1', envelope);
    if (!opened.ok) {
      audit(this.log).warn('approval.decision-refused', { did: caller.did, reason: opened.reason }, 'decision not signed by the caller');
      throw forbidden(`the decision must be signed by your own key: ${opened.message}`);
    }
    const parsed = ApprovalDecisionBody.safeParse(opened.body);
    if (!parsed.success) throw invalid('the decision does not match its schema');
    const d = parsed.data;
    if (d.reviewer !== caller.did) throw forbidden('the decision names another reviewer');
    const approval = await this.approvals.get(d.requestId);
    if (!approval) throw notFound(`approval request ${d.requestId}`);
    if (approval.intentId !== d.intentId || approval.agent !== d.agent) throw invalid('the decision is for another intent or agent');
    const intent = await this.intents.get(approval.intentId);
    const selfReview = approval.user === caller.did;
    const selfRefusal = selfReview ? await this.#selfReviewRefusal(approval, intent) : undefined;
    if (selfRefusal) {
      audit(this.log).warn('approval.self-refused', { did: caller.did, requestId: d.requestId }, 'self-approval refused');
      throw forbidden(selfRefusal);
    }
    const now = this.now();
    if (approval.state !== 'pending') throw conflict(`approval request ${d.requestId} is already ${approval.state}`);
    if (approval.approvals.some((a) => a.reviewer === caller.did)) return this.#sameReviewer(caller.did, d.requestId);
    if (!intent || (intent.state !== 'sent' && intent.state !== 'running')) {
      throw conflict(`the intent of approval request ${d.requestId} is already ${intent?.state ?? 'gone'}: nothing waits for this decision`);
    }
    if (!(now < approval.expiresAt) || !(d.decidedAt < approval.expiresAt)) {
      await this.expireDue();
      throw conflict(`approval request ${d.requestId} has expired`);
    }
    // Its agent on another node that this one cannot reach now: refused before anything is recorded, so no decision is
    // kept as decided while its agent waits on without it.
    if (!this.online.get(approval.agent) && !this.cluster.connected) {
      throw clusterUnavailable(`${CLUSTER_BUS_DOWN}, and the agent is not connected to it: the decision was not recorded; send it again once the bus is back, or through another node`);
    }
    const counter: ApprovalCountersignBody = {
      requestId: d.requestId,
      reviewer: caller.did,
      decisionSha256: createHash('sha256').update(envelope.payload).digest('hex'),
      countersignedAt: now,
    };
    const countersignature = seal(this.keys.identity, 'vaultysclaw/approval-countersign/v1', counter);
    const recorded = await this.approvals.decide(d.requestId, {
      reviewer: caller.did,
      decision: d.decision,
      reason: d.reason,
      selfReview,
      decidedAt: d.decidedAt,
      envelope,
      countersignature,
    });
    if (!recorded.ok && recorded.why === 'same-reviewer') return this.#sameReviewer(caller.did, d.requestId);
    if (!recorded.ok) throw conflict(`approval request ${d.requestId} was decided meanwhile`);
    const { approvals, reviewersRequired } = recorded.view;
    audit(this.log).info(
      'approval.decided',
      {
        requestId: d.requestId,
        intentId: d.intentId,
        reviewer: caller.did,
        role: caller.role,
        decision: d.decision,
        reason: d.reason,
        ...(selfReview ? { selfReview: true } : {}),
        approvals: approvals.length,
        required: reviewersRequired,
      },
      selfReview ? "tool call decided by its requester, reviewing a call their task's model chose" : 'tool call decided',
    );
    // Each decision goes out at once: the agent counts distinct countersigned approvals itself.
    const bundle: ApprovalDecisionBundle = { decision: envelope, reviewerId: VaultysId.fromBase64(idBase64).bytes, countersignature };
    const handedOver = await this.#deliver(approval.agent, bundle);
    this.events.emit('approvalChanged', recorded.view);
    if (handedOver === 'failed') {
      // Recorded, so it cannot be decided again: kept here and sent again until the node holding the agent takes it.
      this.#undelivered.keep(d.requestId, caller.did, approval.agent, bundle, approval.expiresAt);
      // The bus went down between the check above and the delivery: the reviewer is told, not answered as if the agent had it.
      if (!this.cluster.connected) {
        throw clusterUnavailable(`${CLUSTER_BUS_DOWN}: the decision was recorded, and goes to the node holding the agent as soon as the bus is back (until the request expires)`);
      }
    }
    return recorded.view;
  }

  /**
   * Why the requester may not decide this request, if they may not. They may review only a call their task's model
   * chose, when its rule says so: "model call" is read from the broker's own intent record (an llm_task asking about
   * one of its tools), never from the agent's word, and the rules of the certificate the agent's connection holds
   * must say selfReview for this call too (on what the broker sees; an honest agent's host facts only take it away).
   */
  async #selfReviewRefusal(approval: ApprovalView, intent: IntentView | undefined): Promise<string | undefined> {
    if (approval.selfReview !== true) return 'nobody approves a tool call of their own intent';
    if (!intent || !isModelCall(intent, approval)) return 'nobody approves a call they made themselves: self-review is for calls a model chose';
    const connection = this.online.get(approval.agent);
    const policy = connection ? connection.certifiedPolicy : await this.storedPolicyOf(approval.agent);
    const call = IntentCall.safeParse({ capability: approval.capability, params: approval.params });
    if (!policy || !call.success || !decideCall(policy, call.data, 'model').selfReview) return "the agent's certified rules do not let the requester review this call";
    return undefined;
  }

  #sameReviewer(did: string, requestId: string): never {
    audit(this.log).warn('approval.decision-refused', { did, reason: `second decision by the same reviewer on ${requestId}` }, 'the same reviewer decided twice');
    throw conflict(`you already decided approval request ${requestId}: each approval must come from another reviewer`);
  }

  /**
   * A connection that has not renewed its handshake since a rotation would
   * check the countersignature against the old id and refuse it: the decision
   * waits for the renewal (onRenewed) instead of being lost.
   */
  async #deliver(agent: string, bundle: ApprovalDecisionBundle): Promise<DecisionHandOver> {
    const connection = this.online.get(agent);
    if (connection) {
      this.#handOver(connection, bundle);
      return 'taken';
    }
    // Connected to another node of a cluster: that node hands it over. No node holding the agent, or a holder that
    // answers it cannot take it, is no failure: the agent's waiting call ended with its connection.
    const outcome = await deliverToHolder(this.cluster, this.online, agent, { kind: 'approvalDecision', bundle });
    return outcome === 'failed' ? 'failed' : delivered(outcome) ? 'taken' : 'absent';
  }

  /**
   * A decision made on another node of the cluster, for an agent whose connection is here. The bus is not believed:
   * the request must be this agent's in the database, and the reviewer's signature and the countersignature hold.
   */
  async deliverFromPeer(connection: AgentConnection, bundle: ApprovalDecisionBundle): Promise<DeliveryReply> {
    const decision = open(VaultysId.fromBytes(bundle.reviewerId), 'vaultysclaw/approval-decision/v1', bundle.decision);
    const body = decision.ok ? ApprovalDecisionBody.safeParse(decision.body) : undefined;
    if (!body?.success || !open(this.keys.identity.id, 'vaultysclaw/approval-countersign/v1', bundle.countersignature).ok) return { ok: false, message: 'not a decision this broker countersigned' };
    const approval = await this.approvals.get(body.data.requestId);
    if (!approval || approval.agent !== connection.did) return { ok: false, message: `approval request ${body.data.requestId} is not this agent's` };
    this.#handOver(connection, bundle);
    return { ok: true };
  }

  #handOver(connection: AgentConnection, bundle: ApprovalDecisionBundle): void {
    if (connection.certifiedBy?.equals(this.keys.identity.id)) return connection.send({ type: 'approval/decision', bundle });
    this.#held.set(connection, [...(this.#held.get(connection) ?? []), bundle]);
  }

  /** The agent proved the current id: decisions held for it go out now. */
  onRenewed(connection: AgentConnection): void {
    const held = this.#held.get(connection);
    this.#held.delete(connection);
    for (const bundle of held ?? []) connection.send({ type: 'approval/decision', bundle });
  }

  /** Requests waiting for a reviewer. */
  async pendingCount(): Promise<number> {
    return this.approvals.countPending();
  }

  async get(requestId: string): Promise<ApprovalView> {
    return (await this.approvals.get(requestId)) ?? (() => { throw notFound(`approval request ${requestId}`); })();
  }

  async list(state: ApprovalView['state'] | undefined, page: PageRequest): Promise<Page<ApprovalView>> {
    return this.approvals.list(state, page);
  }

  /**
   * The intent ended (a result, lost-agent): no tool call of it waits for a
   * reviewer any more, so its pending requests end now instead of at their timeout.
   */
  async onIntentFinal(intent: IntentView): Promise<void> {
    for (const requestId of await this.approvals.pendingFor(intent.id)) await this.#cancel(requestId, `its intent ended ${intent.state}`);
  }

  /** The agent dropped the calls it was holding for a reviewer when this connection closed. */
  async onConnectionClosed(connection: AgentConnection): Promise<void> {
    const asked = this.#askedOn.get(connection) ?? [];
    this.#askedOn.delete(connection);
    for (const requestId of asked) await this.#cancel(requestId, 'the agent dropped the tool call when its connection closed');
  }

  /**
   * Ends the intent's pending requests whose time is up by the asking agent's clock: an honest agent
   * whose clock runs ahead of ours (within the skew we allow) has given up on its last request and moved on.
   */
  async #endGivenUp(intentId: string, now: number): Promise<void> {
    const pending = await this.approvals.pendingFor(intentId);
    for (const requestId of pending) {
      if (((await this.approvals.get(requestId))?.expiresAt ?? 0) <= now + DEFAULT_CLOCK_SKEW_MS) await this.#cancel(requestId, "its time was up by the agent's clock, which asked about its next call");
    }
  }

  async #cancel(requestId: string, why: string): Promise<void> {
    // One already past its timeout expired as such (the agent gave up on the same deadline): that is what is audited.
    if (!(this.now() < ((await this.approvals.get(requestId))?.expiresAt ?? 0))) return this.expireDue();
    if (!(await this.approvals.cancel(requestId, `cancelled: ${why}`, this.now()))) return;
    const view = await this.#changed(requestId);
    audit(this.log).warn('approval.cancelled', { requestId, intentId: view.intentId, agent: view.agent, detail: why }, 'approval request ended: nothing waits for it');
  }

  /** Expiry is a rejection on both sides: the agent times out on the same deadline. */
  async expireDue(): Promise<void> {
    for (const requestId of await this.approvals.expireDue(this.now())) {
      audit(this.log).warn('approval.expired', { requestId }, 'no reviewer decided in time');
      await this.#changed(requestId);
    }
  }

  async #changed(requestId: string): Promise<ApprovalView> {
    const view = (await this.approvals.get(requestId))!;
    this.events.emit('approvalChanged', view);
    return view;
  }
}
