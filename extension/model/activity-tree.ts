import { REVIEWERS } from '../../core/rpc/roles';
import { FINAL_INTENT_STATES, type ApprovalView, type IntentSummary, type UserView } from '../../core/rpc/views';
import { toolSummary, type Names } from './approvals-tree';
import { visibleText } from '../../core/text/untrusted-text';
import { ago, isoTime, md, who, type TreeNode } from './tree-node';
import { localOperatorAmong, localOperatorNote } from './local-operator';
import { originWords } from './origin-words';

const STATE_ICONS: Record<IntentSummary['state'], TreeNode['icon']> = {
  sent: { id: 'arrow-right' },
  running: { id: 'sync~spin' },
  succeeded: { id: 'check', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'testing.iconFailed' },
  rejected: { id: 'circle-slash', color: 'errorForeground' },
  'lost-agent': { id: 'debug-disconnect', color: 'testing.iconFailed' },
  cancelled: { id: 'stop-circle', color: 'disabledForeground' },
};

export const SHOW_INTENT_COMMAND = 'vaultysclaw.showIntent';

/**
 * Who can decide a paused tool call: owners, admins and reviewers other than
 * the requester, by name when this session knows the broker's users.
 */
export function whoMustAct(approval: ApprovalView, users: readonly UserView[], names: Names): string {
  const deciders = users
    .filter((u) => !u.removed && REVIEWERS.includes(u.role) && u.did !== approval.user)
    .map((u) => visibleText(u.name))
    .sort((a, b) => a.localeCompare(b));
  if (deciders.length > 0) return deciders.length <= 3 ? deciders.join(' or ') : `${deciders.slice(0, 3).join(', ')} or ${deciders.length - 3} more`;
  const requester = who(names.user(approval.user)?.name, approval.user);
  return `a reviewer, admin or owner other than ${requester}`;
}

/** The state as a person reads it: "rejected by agent: capability-not-granted", "waiting for approval by bob". */
export function intentOutcome(intent: Pick<IntentSummary, 'state' | 'rejectedBy' | 'reason' | 'message' | 'createdAt'>, stalenessMs: number, now: number, awaitingApprovalBy?: string): string {
  // The message is the agent's words: shown, never able to hide or reorder the row around it.
  // The sentence, not the code: "path-escape" tells a person less than "the path leaves the workspace"; the code stays in the tooltip.
  if (intent.state === 'rejected') return `rejected by ${intent.rejectedBy ?? 'broker'}: ${intent.message ? visibleText(intent.message) : (intent.reason ?? 'no reason given')}`;
  if (intent.state === 'failed') return `failed${intent.message ? `: ${visibleText(intent.message)}` : ''}`;
  // The agent holds it, paused on a tool call: not stale, and not moving until somebody decides.
  if (awaitingApprovalBy !== undefined && !FINAL_INTENT_STATES.includes(intent.state)) return `waiting for approval by ${awaitingApprovalBy}`;
  // An intent not yet running after the staleness window will be refused by the agent as stale.
  if (intent.state === 'sent' && now - intent.createdAt > stalenessMs) return 'sent (stale: past the staleness window)';
  return intent.state;
}

export interface ActivityContext {
  names: Names;
  /** Pending approvals: an intent with one is paused on the agent, waiting for a reviewer. */
  approvals: readonly ApprovalView[];
  users: readonly UserView[];
  stalenessMs: number;
  now: number;
}

const AWAITING_ICON: TreeNode['icon'] = { id: 'shield', color: 'notificationsWarningIcon.foreground' };

/** The Activity view: recent intents, newest first. */
export function activityTree(intents: readonly IntentSummary[], c: ActivityContext): TreeNode[] {
  const { names, stalenessMs, now } = c;
  const paused = new Map(c.approvals.filter((a) => a.state === 'pending').map((a) => [a.intentId, a]));
  return [...intents]
    .sort((a, b) => b.createdAt - a.createdAt)
    .map((i) => {
      const agent = who(names.agent(i.agent)?.name, i.agent);
      const user = who(names.user(i.user)?.name, i.user);
      const pending = paused.get(i.id);
      const approval = pending && !FINAL_INTENT_STATES.includes(i.state) ? pending : undefined;
      const outcome = intentOutcome(i, stalenessMs, now, approval && whoMustAct(approval, c.users, names));
      // Provenance last: a model's intent reads the same as a person's, then says who chose it.
      const origin = originWords(i.via);
      const describe = (at: number) => `${outcome} · ${agent} · ${ago(i.createdAt, at)}${origin ? ` · ${origin}` : ''}`;
      // Named as the requester, or as the only one who may review: a new user reads who that is, here.
      const operator = localOperatorAmong([names.user(i.user)?.name]) ?? localOperatorNote(outcome);
      return {
        id: `intent:${i.id}`,
        label: `${i.capability} ${toolSummary(i.capability, i.params)}`,
        description: describe(now),
        describe,
        tooltip: [
          `**${md(i.capability)}** on ${md(agent)} by ${md(user)}`,
          '',
          ...(origin ? [`Dispatched ${md(origin)}: a model chose this call, signed with ${md(user)}'s key`, ''] : []),
          `State: ${md(outcome)}`,
          '',
          ...(i.reason ? [`Reason code: \`${i.reason}\``, ''] : []),
          ...(approval ? [`Paused on the agent before ${md(approval.capability)} ${md(toolSummary(approval.capability, approval.params))}; the Approvals view opens it.`, ''] : []),
          ...(operator ? [`_${md(operator)}_`, ''] : []),
          `Created ${isoTime(i.createdAt)}, updated ${isoTime(i.updatedAt)}`,
          '',
          `Intent \`${i.id}\``,
        ].join('\n'),
        contextValue: `intent.${i.state}`,
        icon: approval ? AWAITING_ICON : STATE_ICONS[i.state],
        collapsible: 'none',
        command: { id: SHOW_INTENT_COMMAND, title: 'Show Intent', args: [i.id] },
      } satisfies TreeNode;
    });
}
