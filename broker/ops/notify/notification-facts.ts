import { approvalLink } from '../../../core/ops/approval-link';
import type { NotificationSummary, NotificationType } from '../../../core/ops/notification';
import type { AgentView, ApprovalView, IntentView } from '../../../core/rpc/views';
import type { Capability } from '../../../core/wire/policy';
import { visibleText } from '../../../core/text/untrusted-text';
import type { Broker } from '../../broker';
import type { BrokerEventBus } from '../../events';

/** What one notification says, before it is given a delivery id, a time and a format. */
export interface NotificationFacts {
  type: NotificationType;
  summary: NotificationSummary;
  link?: string;
}

type Names = Pick<Broker, 'directory' | 'users'>;

// Every chosen string is made visible once here: a name with U+202E must not reorder a chat message either.
const shown = (text: string | null | undefined) => (text === null || text === undefined ? undefined : visibleText(text));
const iso = (ms: number) => new Date(ms).toISOString();

async function approvalFacts(names: Names, view: ApprovalView): Promise<NotificationFacts | undefined> {
  // A pending request with approvals already is one reviewer of several deciding: people were told when it was asked.
  const type: NotificationType | undefined =
    view.state === 'pending' ? (view.approvals.length === 0 ? 'approval.requested' : undefined) : view.state === 'expired' ? 'approval.expired' : 'approval.decided';
  if (!type) return undefined;
  const decided = type === 'approval.decided' && view.decidedBy ? { decidedBy: view.decidedBy, decidedByName: shown((await names.users.view(view.decidedBy))?.name) } : {};
  return {
    type,
    summary: {
      requestId: view.requestId,
      intentId: view.intentId,
      ...(await callFacts(names, view)),
      cwd: shown(view.cwd),
      rule: shown(view.rule),
      ...(type === 'approval.requested' ? { expiresAt: iso(view.expiresAt) } : { state: view.state, reason: shown(view.reason) }),
      ...decided,
    },
    link: approvalLink(view.requestId),
  };
}

/** Who asked which agent for what: the part of every notification about one call. */
async function callFacts(names: Names, view: { agent: string; user: string; capability: Capability; params: unknown }) {
  return {
    agent: view.agent,
    agentName: shown((await names.directory.get(view.agent))?.name),
    user: view.user,
    userName: shown((await names.users.view(view.user))?.name),
    capability: view.capability,
    call: shown(JSON.stringify(view.params)),
  };
}

async function intentFacts(names: Names, view: IntentView): Promise<NotificationFacts | undefined> {
  if (view.state !== 'failed' && view.state !== 'lost-agent') return undefined;
  return {
    type: 'intent.failed',
    summary: {
      intentId: view.id,
      ...(await callFacts(names, view)),
      state: view.state,
      reason: shown([view.reason, view.message].filter(Boolean).join(': ')),
    },
  };
}

const agentFacts = (type: NotificationType, view: AgentView, extra: NotificationSummary): NotificationFacts => ({
  type,
  summary: { agent: view.did, agentName: shown(view.name), ...extra },
});

/**
 * Calls `notify` with the facts of each event people are told about: an approval requested, decided or expired, a
 * registration waiting, an agent revoked, an intent failed. Returns the unsubscribe. Only reads the bus: what the
 * broker decided is already decided when it is told here, and a failure here goes to `onError`, never back into
 * the broker code that emitted the event.
 */
export function watchNotifiableEvents(events: BrokerEventBus, names: Names, notify: (facts: NotificationFacts) => void, onError: (err: unknown) => void): () => void {
  // The bus says an agent is revoked again when its connection then closes: told once per revocation. Forgotten
  // when its row is removed, so this holds no more DIDs than the registry lists as revoked.
  const revoked = new Set<string>();
  // One chain: facts that read names wait for those before them, so people are told in the order things happened
  // (a request before its decision).
  let told: Promise<void> = Promise.resolve();
  const inOrder =
    <V>(handle: (view: V) => void | Promise<void>) =>
    (view: V) => {
      told = told
        .then(() => handle(view))
        .catch((err: unknown) => {
          try {
            onError(err);
          } catch {
            // The reporter itself failed: the chain goes on for the next event.
          }
        });
    };
  const onApproval = inOrder(async (view: ApprovalView) => {
    const facts = await approvalFacts(names, view);
    if (facts) notify(facts);
  });
  const onIntent = inOrder(async (view: IntentView) => {
    const facts = await intentFacts(names, view);
    if (facts) notify(facts);
  });
  const onRegistration = inOrder((view: AgentView) => {
    if (view.status === 'pending') notify(agentFacts('registration.pending', view, { requested: shown(view.requested.join(',')) }));
  });
  const onAgent = inOrder((view: AgentView) => {
    if (view.removed) {
      revoked.delete(view.did);
      return;
    }
    if (view.status !== 'revoked' || revoked.has(view.did)) return;
    revoked.add(view.did);
    notify(agentFacts('agent.revoked', view, { reason: shown(view.statusReason) }));
  });
  events.on('approvalChanged', onApproval);
  events.on('intentChanged', onIntent);
  events.on('registrationChanged', onRegistration);
  events.on('agentChanged', onAgent);
  return () => {
    events.off('approvalChanged', onApproval);
    events.off('intentChanged', onIntent);
    events.off('registrationChanged', onRegistration);
    events.off('agentChanged', onAgent);
  };
}
