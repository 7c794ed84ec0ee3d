import type { IntentView } from '../../core/rpc/views';
import { toolSummary, type Names } from './approvals-tree';
import { ago, isoTime, md, shortDid, type TreeNode } from './tree-node';

const STATE_ICONS: Record<IntentView['state'], TreeNode['icon']> = {
  sent: { id: 'arrow-right' },
  running: { id: 'sync~spin' },
  succeeded: { id: 'check', color: 'testing.iconPassed' },
  failed: { id: 'error', color: 'testing.iconFailed' },
  rejected: { id: 'circle-slash', color: 'errorForeground' },
  'lost-agent': { id: 'debug-disconnect', color: 'testing.iconFailed' },
};

export const SHOW_INTENT_COMMAND = 'vaultysclaw.showIntent';

/** The state as a person reads it: "rejected by agent: capability-not-granted". */
export function intentOutcome(intent: IntentView, stalenessMs: number, now: number): string {
  if (intent.state === 'rejected') return `rejected by ${intent.rejectedBy ?? 'broker'}: ${intent.reason ?? intent.message ?? 'no reason'}`;
  if (intent.state === 'failed') return `failed${intent.message ? `: ${intent.message}` : ''}`;
  // An intent not yet running after the staleness window will be refused by the agent as stale.
  if (intent.state === 'sent' && now - intent.createdAt > stalenessMs) return 'sent (stale: past the staleness window)';
  return intent.state;
}

/** The Activity view: recent intents, newest first. */
export function activityTree(intents: readonly IntentView[], names: Names, stalenessMs: number, now: number): TreeNode[] {
  return [...intents]
    .sort((a, b) => b.createdAt - a.createdAt)
    .map((i) => {
      const agent = names.agent(i.agent)?.name ?? shortDid(i.agent);
      const user = names.user(i.user)?.name ?? shortDid(i.user);
      const outcome = intentOutcome(i, stalenessMs, now);
      return {
        id: `intent:${i.id}`,
        label: `${i.capability} ${toolSummary(i.capability, i.params)}`,
        description: `${outcome} · ${agent} · ${ago(i.createdAt, now)}`,
        tooltip: [
          `**${md(i.capability)}** on ${md(agent)} by ${md(user)}`,
          '',
          `State: ${md(outcome)}`,
          '',
          `Created ${isoTime(i.createdAt)}, updated ${isoTime(i.updatedAt)}`,
          '',
          `Intent \`${i.id}\``,
        ].join('\n'),
        contextValue: `intent.${i.state}`,
        icon: STATE_ICONS[i.state],
        collapsible: 'none',
        command: { id: SHOW_INTENT_COMMAND, title: 'Show Intent', args: [i.id] },
      } satisfies TreeNode;
    });
}
