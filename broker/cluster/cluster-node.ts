import { randomUUID } from 'node:crypto';
import { guarded } from '../../core/io/guarded';
import { claimedBody, DEFAULT_LIVENESS_MS, isLive, open, verifyCertificate, VaultysId } from '../../core/identity';
import { BUDGETS } from '../../core/budgets';
import { AGENT_AUTH } from '../../core/wire/hub-messages';
import type { AgentConnection } from '../hub/agent-connection';
import type { AgentDelivery, ClusterBroadcast, DeliveryReply } from '../../core/cluster/cluster-messages';
import type { NotificationName } from '../../core/rpc/rpc-contract';
import { ProgressBody } from '../../core/wire/intent';
import { CloseCode } from '../../core/wire/close-codes';
import { audit } from '../audit/audit-log';
import type { WindowedRefusalAudit } from '../audit/windowed-refusal-audit';
import { clusterRefusalAudit } from './cluster-refusal-audit';
import type { AuditLine } from '../../core/audit/events';
import type { Broker } from '../broker';
import { delivered } from './cluster-bus';
import { ViewHintRate } from './view-hint-rate';
import type { BrokerEvent } from '../events';

/** How often a node says it runs (nodeAlive); past SILENT_BEATS of them unheard, its agents are shown offline elsewhere. */
const HEARTBEAT_MS = 5_000;
const SILENT_BEATS = 3;
/** Presence questions a starting node asks at once, for the agents other nodes already hold. */
const ROLL_CALL_AT_ONCE = 16;

/**
 * One broker node's side of the cluster bus (issue 20): what happens here is told to the other nodes as hints
 * (the ids of what changed), what they tell is re-read from the shared database before this node's clients or
 * agents hear of it, and deliveries for an agent connected here are checked before they reach it. On a single
 * broker the bus is SingleNodeBus and all of this is inert.
 */
export class ClusterNode {
  /** Whoever can publish on the bus chooses how many messages fail the checks: their lines are budgeted like the bus's own. */
  readonly #refusals: WindowedRefusalAudit<AuditLine<'cluster.message-refused'>>;
  /** The agents served here, by DID: one subscription each, whichever of its connections is the current one. */
  readonly #serving = new Map<string, () => void>();
  /** This run of this node: what the other nodes record as holding the agents connected here. */
  readonly instance = randomUUID();
  /** When each other node run was last heard (nodeAlive, agentBack, a presence answer). */
  readonly #lastHeard = new Map<string, number>();
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #viewHints: ViewHintRate;
  #busWasDown = false;
  #nameClashTold = false;

  constructor(private readonly broker: Broker) {
    const { events, cluster, log } = broker;
    this.#viewHints = new ViewHintRate(broker.now);
    this.#refusals = clusterRefusalAudit(log, cluster.nodeName, broker.now, (err) =>
      audit(log).error('broker.internal-error', { what: 'cluster refusal summary', err: (err as Error)?.message ?? String(err) }, 'could not write a refusal summary'),
    );
    const tell = <K extends NotificationName>(event: K, hint: (payload: BrokerEvent<K>) => ClusterBroadcast | undefined) =>
      events.on(event, (payload) => {
        const message = hint(payload);
        if (message) cluster.broadcast(message);
      });
    tell('agentChanged', (view) => ({ kind: 'agentChanged', did: view.did }));
    tell('registrationChanged', (view) => ({ kind: 'registrationChanged', did: view.did }));
    tell('intentChanged', (view) => ({ kind: 'intentChanged', id: view.id }));
    tell('approvalChanged', (view) => ({ kind: 'approvalChanged', requestId: view.requestId }));
    tell('userChanged', (view) => ({ kind: 'userChanged', did: view.did }));
    tell('intentProgress', (progress) => (progress.envelope ? { kind: 'intentProgress', envelope: progress.envelope } : undefined));
    cluster.onBroadcast((message) => this.#heard(message));
  }

  /**
   * A node of a cluster: it says it runs every HEARTBEAT_MS, shows offline the agents of nodes fallen silent, and asks
   * once, in the background, which node holds each known agent (a node started after them would show them offline).
   */
  start(): void {
    const failed = (what: string) => (err: unknown) => audit(this.broker.log).error('broker.internal-error', { what, err: (err as Error)?.message ?? String(err) }, 'a cluster timer failed');
    this.#heartbeat = setInterval(guarded(failed('cluster heartbeat'), () => this.#beat()), HEARTBEAT_MS);
    this.#heartbeat.unref();
    void this.#beat().catch(failed('cluster heartbeat'));
    void this.#rollCall().catch(failed('cluster roll call'));
  }

  stop(): void {
    clearInterval(this.#heartbeat);
  }

  async #beat(): Promise<void> {
    const { cluster, online, directory, events } = this.broker;
    if (!cluster.connected) {
      this.#busWasDown = true;
      return;
    }
    cluster.broadcast({ kind: 'nodeAlive', node: this.instance, name: cluster.nodeName });
    const now = this.broker.now();
    // Back from an outage of this node's own bus: nobody could be heard meanwhile, through no fault of theirs.
    if (this.#busWasDown) {
      this.#busWasDown = false;
      for (const node of this.#lastHeard.keys()) this.#lastHeard.set(node, now);
      return;
    }
    for (const [node, heard] of this.#lastHeard) {
      if (now - heard < SILENT_BEATS * HEARTBEAT_MS) continue;
      this.#lastHeard.delete(node);
      for (const did of online.heldOn(node)) {
        online.heldElsewhere(did, undefined);
        const view = await directory.get(did);
        if (view) events.fromPeer('agentChanged', view);
      }
    }
  }

  /** Which node holds each agent known here, asked ROLL_CALL_AT_ONCE at a time, page by page of the registry. */
  async #rollCall(): Promise<void> {
    const { registry, online, cluster } = this.broker;
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof registry.page<{ did: string; live: boolean }>>> = await registry.page(
        undefined,
        { limit: BUDGETS.listPageItems.limit, cursor: cursor ?? undefined },
        (r) => ({ did: r.did, live: (r.status === 'approved' || r.status === 'pending') && r.removedAt === null }),
      );
      const dids = page.items.filter((r) => r.live).map((r) => r.did);
      for (let i = 0; i < dids.length; i += ROLL_CALL_AT_ONCE) {
        await Promise.all(
          dids.slice(i, i + ROLL_CALL_AT_ONCE).map(async (did) => {
            if (online.isOnlineAnywhere(did)) return;
            const reply = await cluster.deliver(did, { kind: 'presence' });
            if (delivered(reply) && reply.agent && reply.agent.node !== this.instance && !online.isOnline(did)) this.#holds(did, reply.agent.node, 'presence');
          }),
        );
      }
      cursor = page.nextCursor;
    } while (cursor);
  }

  /** Another node run holds `did`, as it said itself: shown online here while that node is heard. */
  #holds(did: string, node: string, what: string): void {
    this.broker.online.heldElsewhere(did, node);
    this.#heardFrom(node, what);
  }

  /**
   * Node run `node` was heard, kept within BUDGETS.clusterNodeRunsHeard: whoever can publish names any run they like,
   * in a nodeAlive, in an agentBack replaying a live certificate, or in an answer to a presence question. Past the
   * bound a new run is not recorded (refused, audited); an agent it holds stays shown online until an agentGone.
   */
  #heardFrom(node: string, what: string): boolean {
    if (!this.#lastHeard.has(node) && this.#lastHeard.size >= BUDGETS.clusterNodeRunsHeard.limit) {
      this.#refused(what, `${BUDGETS.clusterNodeRunsHeard.limit} node runs already heard: ${node} not recorded`);
      return false;
    }
    this.#lastHeard.set(node, this.broker.now());
    return true;
  }

  /** An agent authenticated here: deliveries for it come to this node, and a connection of it on another node is replaced. */
  serve(connection: AgentConnection): void {
    const did = connection.did!;
    if (!this.#serving.has(did)) this.#serving.set(did, this.broker.cluster.serveAgent(did, (message) => this.#delivered(did, message)));
    this.broker.cluster.broadcast({ kind: 'agentBack', did, handshake: connection.handshake!.bytes, node: this.instance });
  }

  /** The agent's connection here closed: other nodes' views show it offline, and another node may serve it now. */
  left(did: string): void {
    this.#release(did);
    this.broker.cluster.broadcast({ kind: 'agentGone', did });
  }

  #release(did: string): void {
    this.#serving.get(did)?.();
    this.#serving.delete(did);
  }

  async #delivered(did: string, message: AgentDelivery): Promise<DeliveryReply> {
    const { router, approvals } = this.broker;
    const connection = this.broker.online.get(did);
    if (!connection) return { ok: false, message: 'the agent is no longer connected here' };
    switch (message.kind) {
      case 'intent':
        return router.deliverFromPeer(connection, message.envelope, message.policyVersion);
      case 'intentCancel':
        return router.cancelFromPeer(connection, message.intentId);
      case 'approvalDecision':
        return approvals.deliverFromPeer(connection, message.bundle);
      case 'presence':
        return { ok: true, agent: { version: connection.agentVersion ?? null, proven: connection.certifiedBy?.equals(this.broker.keys.identity.id) === true, node: this.instance } };
    }
  }

  async #heard(message: ClusterBroadcast): Promise<void> {
    const { events, directory, intents, approvals, users, delegations, router, online } = this.broker;
    if ((message.kind === 'intentChanged' || message.kind === 'approvalChanged' || message.kind === 'intentProgress') && !this.#viewHints.take()) {
      return this.#refused(message.kind, `more than ${BUDGETS.clusterViewHintsPerSecond.limit} view hints this second: dropped`);
    }
    switch (message.kind) {
      case 'agentChanged':
      case 'registrationChanged': {
        const view = await directory.get(message.did);
        if (!view) return;
        events.fromPeer(message.kind, view);
        // The node holding the agent does what the deciding node would have done with a local connection.
        const connection = online.get(message.did);
        if (!connection) return;
        if (view.status === 'revoked' || view.status === 'rejected') connection.close(CloseCode.RegistrationEnded, `agent ${view.status}`);
        else if (view.status === 'approved' && view.policy && view.policy.policyVersion !== connection.certifiedPolicy?.policyVersion) {
          connection.send({ type: 'update_capabilities', policyVersion: view.policy.policyVersion });
        }
        return;
      }
      case 'intentChanged': {
        const view = await intents.get(message.id);
        if (view) events.fromPeer('intentChanged', view);
        return;
      }
      case 'approvalChanged': {
        const view = await approvals.get(message.requestId).catch(() => undefined);
        if (view) events.fromPeer('approvalChanged', view);
        return;
      }
      case 'userChanged': {
        const view = await users.view(message.did);
        if (!view) return;
        events.fromPeer('userChanged', view);
        await delegations.onPeerUserChanged(view.did, view.removed ? null : view.role);
        return;
      }
      case 'intentProgress':
        return this.#progress(message.envelope);
      case 'revocations':
        return delegations.revocationsFromPeer();
      case 'nodeAlive':
        if (!this.#heardFrom(message.node, 'nodeAlive')) return;
        if (message.name === this.broker.cluster.nodeName && message.node !== this.instance && !this.#nameClashTold) {
          // Once a run: whoever can publish could otherwise write a line per made-up instance.
          this.#nameClashTold = true;
          audit(this.broker.log).error('cluster.node-name-taken', { node: this.broker.cluster.nodeName, other: message.node }, 'another broker node runs under this node name: give each node its own --node-name');
        }
        return;
      case 'agentGone': {
        // An agent this broker does not know: nothing to show, and nothing to ask or record about it (whoever can
        // publish could name any number of them).
        if (!(await this.broker.registry.get(message.did))) return;
        // Another node may hold it already (an agentBack from there can arrive before this): asked, not assumed.
        const presence = await this.broker.cluster.deliver(message.did, { kind: 'presence' });
        if (delivered(presence) && presence.agent && presence.agent.node !== this.instance) this.#holds(message.did, presence.agent.node, 'presence');
        else online.heldElsewhere(message.did, undefined);
        const view = await directory.get(message.did);
        if (view) events.fromPeer('agentChanged', view);
        return;
      }
      case 'agentBack': {
        const proof = this.#handshakeOf(message.did, message.handshake);
        if (!proof) return;
        this.#holds(message.did, message.node, 'agentBack');
        router.onAgentBackElsewhere(message.did);
        const older = online.get(message.did);
        // A certificate no newer than this node's own connection is a replay of an earlier handshake: nothing to close.
        const newer = proof.timestamp > (older?.handshake?.timestamp ?? Infinity);
        // Out of the online set first: this node must not start the agent's grace period for a connection replaced elsewhere.
        if (older && newer && online.remove(message.did, older)) {
          this.#release(message.did);
          older.close(CloseCode.Replaced, 'replaced by a newer connection on another broker node');
        }
        return;
      }
    }
  }

  /**
   * The timestamp of an agentBack's handshake certificate, when it proves what the hint says: the agent's own key and
   * the broker's id both signed it, for agent authentication, within the handshake's liveness window.
   */
  #handshakeOf(did: string, bytes: Uint8Array): { timestamp: number } | undefined {
    const certificate = verifyCertificate(bytes, { ...AGENT_AUTH, maxMessageBytes: BUDGETS.challengeMessageBytes.limit });
    if (!certificate.ok) return this.#refused('agentBack', `not a handshake certificate: ${certificate.message}`);
    const { initiator, responder, timestamp } = certificate.value;
    if (initiator.did !== did) return this.#refused('agentBack', `the handshake is not agent ${did}'s`);
    if (!responder.equals(this.broker.keys.identity.id)) return this.#refused('agentBack', `the handshake of agent ${did} was not answered by this broker's id`);
    if (!isLive(timestamp, this.broker.now(), DEFAULT_LIVENESS_MS)) return this.#refused('agentBack', `the handshake of agent ${did} is not live`);
    return { timestamp };
  }

  /** An agent's progress as it signed it: only what its key signed, for an intent of it in flight, reaches clients. */
  async #progress(envelope: { payload: Uint8Array; signature: Uint8Array }): Promise<void> {
    const { registry, intents, events } = this.broker;
    const claimed = ProgressBody.safeParse(claimedBody(envelope.payload));
    if (!claimed.success) return this.#refused('progress', 'not a progress body');
    const agent = await registry.get(claimed.data.agent);
    const opened = agent ? open(VaultysId.fromBase64(agent.idBase64), 'vaultysclaw/progress/v1', envelope) : undefined;
    const body = opened?.ok ? ProgressBody.safeParse(opened.body) : undefined;
    if (!body?.success) return this.#refused('progress', `not signed by agent ${claimed.data.agent}`);
    const intent = await intents.get(body.data.intentId);
    if (!intent || intent.agent !== body.data.agent) return this.#refused('progress', `intent ${body.data.intentId} is not that agent's`);
    const { intentId, seq, stream, text } = body.data;
    events.fromPeer('intentProgress', { intentId, seq, stream, text, user: intent.user, agent: intent.agent });
  }

  #refused(what: string, detail: string): undefined {
    this.#refusals.refused({ event: 'cluster.message-refused', what, detail }, 'a message from the cluster bus was not believed');
    return undefined;
  }
}
