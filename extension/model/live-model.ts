import { FINAL_INTENT_STATES, type AgentView, type ApprovalView, type IntentSummary, type UserView } from '../../core/rpc/views';
import { BUDGETS } from '../../core/budgets';
import { collectPages, type Page } from '../../core/rpc/pages';
import type { BrokerSession, NotificationParams } from '../connection/broker-session';

export type ModelPart = 'connection' | 'agents' | 'approvals' | 'intents' | 'users';

/** How many recent intents the Activity view keeps: one page (at most BUDGETS.listPageItems), as summaries; details are fetched on demand. */
export const RECENT_INTENTS = Math.min(100, BUDGETS.listPageItems.limit);

/** The biggest page a list may ask for: the model pages through agents, pending approvals and users. */
const PAGE = BUDGETS.listPageItems.limit;
const MAX_PAGES = 50;

type Disposable = { dispose(): void };

const APPROVAL_RANK: Record<ApprovalView['state'], number> = { pending: 0, approved: 1, rejected: 1, expired: 1 };
const INTENT_RANK: Record<IntentSummary['state'], number> = { sent: 0, running: 1, succeeded: 2, failed: 2, rejected: 2, 'lost-agent': 2, cancelled: 2 };

/** A newer view of an intent never loses to an older one, whatever order they arrive in. */
export function newerIntent(current: IntentSummary | undefined, next: IntentSummary): boolean {
  if (!current) return true;
  if (next.updatedAt !== current.updatedAt) return next.updatedAt > current.updatedAt;
  return INTENT_RANK[next.state] >= INTENT_RANK[current.state];
}

export function newerApproval(current: ApprovalView | undefined, next: ApprovalView): boolean {
  return !current || APPROVAL_RANK[next.state] >= APPROVAL_RANK[current.state];
}

/**
 * What the broker last told this session: agents, approvals and recent
 * intents, loaded once per connection and then kept current from the
 * broker's notifications only (no polling).
 *
 * Loading and notifications race, and are reconciled by order: the broker
 * answers a list from its state at that moment and writes responses and
 * notifications to one ordered stream, so a notification that arrives before
 * its list's response is already in that list and is dropped, and one that
 * arrives after is newer and is applied.
 *
 * When the connection goes, everything is cleared: nothing is shown as live
 * that a dead connection last said.
 */
export class LiveModel {
  #session: BrokerSession | undefined;
  #subscriptions: Disposable[] = [];
  #loaded = { agents: false, approvals: false, intents: false, users: false };
  #agents = new Map<string, AgentView>();
  #approvals = new Map<string, ApprovalView>();
  #intents = new Map<string, IntentSummary>();
  #users = new Map<string, UserView>();
  #listeners = new Set<(parts: ReadonlySet<ModelPart>) => void>();
  #progressListeners = new Set<(progress: NotificationParams<'intentProgress'>) => void>();
  #disconnectedReason: string | null = 'not connected yet';

  constructor(private readonly report: (message: string) => void = () => undefined) {}

  get connected(): boolean {
    return this.#session !== undefined;
  }

  get session(): BrokerSession | undefined {
    return this.#session;
  }

  /** Why there is no data, when there is none. */
  get disconnectedReason(): string | null {
    return this.#disconnectedReason;
  }

  get loaded(): boolean {
    return this.#loaded.agents && this.#loaded.approvals && this.#loaded.intents && this.#loaded.users;
  }

  agents(): AgentView[] {
    return [...this.#agents.values()];
  }

  agent(did: string): AgentView | undefined {
    return this.#agents.get(did);
  }

  approvals(): ApprovalView[] {
    return [...this.#approvals.values()];
  }

  approval(requestId: string): ApprovalView | undefined {
    return this.#approvals.get(requestId);
  }

  pendingApprovals(): ApprovalView[] {
    return this.approvals().filter((a) => a.state === 'pending');
  }

  intents(): IntentSummary[] {
    return [...this.#intents.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  intent(id: string): IntentSummary | undefined {
    return this.#intents.get(id);
  }

  users(): UserView[] {
    return [...this.#users.values()];
  }

  user(did: string): UserView | undefined {
    return this.#users.get(did);
  }

  onDidChange(listener: (parts: ReadonlySet<ModelPart>) => void): Disposable {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }

  onIntentProgress(listener: (progress: NotificationParams<'intentProgress'>) => void): Disposable {
    this.#progressListeners.add(listener);
    return { dispose: () => this.#progressListeners.delete(listener) };
  }

  /** Subscribes first, then loads, so no change between the two is lost. */
  async attach(session: BrokerSession): Promise<void> {
    this.detach('reconnecting');
    this.#session = session;
    this.#disconnectedReason = null;
    const invalid = (message: string) => this.report(`ignored a malformed notification: ${message}`);
    this.#subscriptions = [
      session.on('agentChanged', ({ agent }) => this.#agentChanged(session, agent), invalid),
      session.on('registrationChanged', ({ agent }) => this.#agentChanged(session, agent), invalid),
      session.on('approvalChanged', ({ approval }) => this.#approvalChanged(session, approval), invalid),
      session.on('intentChanged', ({ intent }) => this.#intentChanged(session, intent), invalid),
      session.on('userChanged', ({ user }) => {
        if (this.#session !== session || !this.#loaded.users) return;
        this.#users.set(user.did, user);
        this.#emit('users');
      }, invalid),
      session.on('intentProgress', (progress) => {
        if (this.#session === session) for (const l of [...this.#progressListeners]) l(progress);
      }, invalid),
    ];
    this.#emit('connection');
    const results = await Promise.all([
      this.#pages('agents', (cursor) => session.call('agentsList', { limit: PAGE, cursor })).then((list) => {
        if (this.#session !== session) return;
        this.#agents = new Map(list.map((a) => [a.did, a]));
        this.#loaded.agents = true;
        this.#emit('agents');
      }),
      this.#pages('pending approvals', (cursor) => session.call('approvalsList', { state: 'pending', limit: PAGE, cursor })).then((list) => {
        if (this.#session !== session) return;
        this.#approvals = new Map(list.map((a) => [a.requestId, a]));
        this.#loaded.approvals = true;
        this.#emit('approvals');
      }),
      session.call('intentsList', { limit: RECENT_INTENTS }).then((page) => {
        if (this.#session !== session) return;
        this.#intents = new Map(page.items.map((i) => [i.id, i]));
        this.#loaded.intents = true;
        this.#emit('intents');
      }),
      this.#pages('users', (cursor) => session.call('usersList', { limit: PAGE, cursor })).then((list) => {
        if (this.#session !== session) return;
        this.#users = new Map(list.map((u) => [u.did, u]));
        this.#loaded.users = true;
        this.#emit('users');
      }),
    ].map((p) => p.then(() => undefined, (err: unknown) => err)));
    const failed = results.find((e) => e !== undefined);
    if (failed !== undefined) throw failed;
  }

  /** A whole list, up to MAX_PAGES pages: a broker holding more (a flood of registrations) still loads, and the log says what is not shown. */
  async #pages<T>(what: string, fetch: (cursor: string | undefined) => Promise<Page<T>>): Promise<T[]> {
    const { items, complete } = await collectPages(fetch, MAX_PAGES);
    if (!complete) this.report(`the broker has more ${what} than the ${items.length} shown`);
    return items;
  }

  /** The connection is gone: drop every view of it. */
  detach(reason: string): void {
    for (const s of this.#subscriptions.splice(0)) s.dispose();
    const had = this.#session !== undefined || this.#agents.size + this.#approvals.size + this.#intents.size + this.#users.size > 0;
    this.#session = undefined;
    this.#disconnectedReason = reason;
    this.#loaded = { agents: false, approvals: false, intents: false, users: false };
    this.#agents.clear();
    this.#approvals.clear();
    this.#intents.clear();
    this.#users.clear();
    if (had) this.#emit('connection', 'agents', 'approvals', 'intents', 'users');
  }

  /**
   * Resolves with the intent once it reaches a final state, from
   * notifications (the dispatch answer itself may already be final).
   * Rejects on timeout, on cancel, or when the connection goes.
   */
  waitForFinal(id: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<IntentSummary> {
    const known = this.#intents.get(id);
    if (known && FINAL_INTENT_STATES.includes(known.state)) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const done = (finish: () => void) => {
        clearTimeout(timer);
        sub.dispose();
        options.signal?.removeEventListener('abort', onAbort);
        finish();
      };
      const timer = setTimeout(() => done(() => reject(new Error(`intent ${id} reached no final state within ${Math.round(options.timeoutMs / 1000)} s`))), options.timeoutMs);
      const onAbort = () => done(() => reject(new Error('cancelled')));
      options.signal?.addEventListener('abort', onAbort);
      const sub = this.onDidChange((parts) => {
        if (!this.connected) return done(() => reject(new Error(`the broker connection went away (${this.#disconnectedReason ?? 'unknown'})`)));
        if (!parts.has('intents')) return;
        const intent = this.#intents.get(id);
        if (intent && FINAL_INTENT_STATES.includes(intent.state)) done(() => resolve(intent));
      });
    });
  }

  /** An answer the extension got from a call (dispatch, approve …) is news too: fold it in like a notification. */
  noteIntent(intent: IntentSummary): void {
    if (this.#session) this.#intentChanged(this.#session, intent, true);
  }

  noteAgent(agent: AgentView): void {
    if (this.#session) this.#agentChanged(this.#session, agent, true);
  }

  noteApproval(approval: ApprovalView): void {
    if (this.#session) this.#approvalChanged(this.#session, approval, true);
  }

  #agentChanged(session: BrokerSession, agent: AgentView, fromCall = false): void {
    if (this.#session !== session || (!this.#loaded.agents && !fromCall)) return;
    // An admin removed it from the lists (agents/remove): its row goes, in every session that hears it.
    if (agent.removed) this.#agents.delete(agent.did);
    else this.#agents.set(agent.did, agent);
    this.#emit('agents');
  }

  #approvalChanged(session: BrokerSession, approval: ApprovalView, fromCall = false): void {
    if (this.#session !== session || (!this.#loaded.approvals && !fromCall)) return;
    if (!newerApproval(this.#approvals.get(approval.requestId), approval)) return;
    this.#approvals.set(approval.requestId, approval);
    this.#emit('approvals');
  }

  #intentChanged(session: BrokerSession, intent: IntentSummary, fromCall = false): void {
    if (this.#session !== session || (!this.#loaded.intents && !fromCall)) return;
    const previous = this.#intents.get(intent.id);
    if (!newerIntent(previous, intent)) return;
    this.#intents.set(intent.id, intent);
    // The broker does not push usage changes, so an intent that just ended is the cue to re-read its agent's usage.
    if (FINAL_INTENT_STATES.includes(intent.state) && !(previous && FINAL_INTENT_STATES.includes(previous.state))) this.#refreshAgent(session, intent.agent);
    if (this.#intents.size > RECENT_INTENTS) {
      const oldest = [...this.#intents.values()].sort((a, b) => a.createdAt - b.createdAt).slice(0, this.#intents.size - RECENT_INTENTS);
      for (const old of oldest) this.#intents.delete(old.id);
    }
    this.#emit('intents');
  }

  #refreshing = new Set<string>();

  #refreshAgent(session: BrokerSession, did: string): void {
    if (this.#refreshing.has(did)) return;
    this.#refreshing.add(did);
    session
      .call('agentsGet', { did })
      .then((agent) => this.#agentChanged(session, agent, true))
      .catch((err: unknown) => this.report(`could not refresh agent ${did}: ${(err as Error).message}`))
      .finally(() => this.#refreshing.delete(did));
  }

  #emit(...parts: ModelPart[]): void {
    const set = new Set(parts);
    for (const listener of [...this.#listeners]) listener(set);
  }
}
