import { ADMINS, REVIEWERS, type Role } from '../../core/rpc/roles';
import type { AgentView, ApprovalView, UserView } from '../../core/rpc/views';
import { visibleText } from '../../core/text/untrusted-text';
import type { LiveModel } from './live-model';
import type { BrokerState } from '../connection/supervisor';
import { count } from './tree-node';

/** Pending tool calls this user may decide: a reviewer, admin or owner who did not ask for it and has not approved it yet. */
export function waitingOn(approvals: readonly ApprovalView[], me: { did: string; role: string }): ApprovalView[] {
  if (!REVIEWERS.some((r) => r === me.role)) return [];
  return approvals.filter((a) => a.state === 'pending' && a.user !== me.did && !a.approvals.some((given) => given.reviewer === me.did));
}

/** What the connected status is made of, as plain data. */
export interface StatusFacts {
  label: string;
  me: Pick<UserView, 'did' | 'name' | 'role' | 'removed'>;
  grantedRole: Role;
  expectedRole?: Role;
  agents: readonly Pick<AgentView, 'status' | 'online'>[];
  approvals: readonly ApprovalView[];
}

/**
 * Broker health at a glance, in words: "$(shield) 1 agent online · 1 approval waiting". The background turns to a
 * warning only when something waits on this user (a call they may decide, a registration an admin must decide, their
 * role changed), not for a call that waits on somebody else. Click: the Approvals view.
 */
export function connectedStatus(f: StatusFacts): { text: string; tooltip: string; warning: boolean } {
  const { me, grantedRole, expectedRole } = f;
  const online = f.agents.filter((a) => a.status === 'approved' && a.online).length;
  const registrations = f.agents.filter((a) => a.status === 'pending').length;
  const pending = f.approvals.filter((a) => a.state === 'pending');
  const role = me.removed ? 'removed' : me.role;
  const roleNotice = me.removed || me.role !== grantedRole || (expectedRole !== undefined && me.role !== expectedRole);
  const mine = me.removed ? [] : waitingOn(pending, me);
  const decidesRegistrations = !me.removed && ADMINS.includes(me.role) && registrations > 0;
  const parts = [
    `$(shield) ${online ? count(online, 'agent') : 'no agent'} online`,
    ...(pending.length ? [`${count(pending.length, 'approval')} waiting`] : []),
    ...(registrations ? [`${count(registrations, 'registration')} to review`] : []),
    ...(roleNotice ? [`$(warning) you are ${role}`] : []),
  ];
  const others = pending.length - mine.length;
  const lines = [
    `VaultysClaw: connected to ${f.label} as ${visibleText(me.name)} (${role})`,
    ...(roleNotice ? [`Your role changed: you are ${role}${expectedRole && me.role !== expectedRole ? `, not ${expectedRole}` : ` since you connected as ${grantedRole}`}`] : []),
    `${online ? count(online, 'agent') : 'No agent'} online`,
    pending.length === 0
      ? 'No tool call waiting for approval'
      : `${count(pending.length, 'tool call')} waiting for approval: ${mine.length ? `${mine.length} you may decide` : 'none you may decide'}${others ? `, ${others} waiting on another reviewer` : ''}`,
    ...(registrations ? [`${count(registrations, 'agent registration')} waiting for an admin${decidesRegistrations ? ' (you may decide)' : ''}`] : []),
    'Click to open the Approvals view',
  ];
  return { text: parts.join(' · '), tooltip: lines.join('\n'), warning: mine.length > 0 || decidesRegistrations || roleNotice };
}

export function statusText(state: BrokerState, model: LiveModel): { text: string; tooltip: string; warning: boolean } {
  switch (state.kind) {
    case 'connected': {
      const { session, label, expectedRole } = state.connection;
      // The broker's latest word on this user (the model hears users/changed): a demotion shows here at once.
      const me = model.user(session.user.did) ?? session.user;
      return connectedStatus({ label, me, grantedRole: session.grantedRole, expectedRole, agents: model.agents(), approvals: model.pendingApprovals() });
    }
    case 'connecting':
      return { text: '$(sync~spin) VaultysClaw: connecting…', tooltip: `VaultysClaw: connecting to the broker (attempt ${state.attempt})`, warning: false };
    case 'disconnected':
      return {
        text: '$(debug-disconnect) VaultysClaw: disconnected',
        tooltip: `VaultysClaw: disconnected — ${state.reason}${state.retryInMs !== null ? `\nretrying in ${Math.round(state.retryInMs / 1000)} s` : '\nRun "VaultysClaw: Restart Broker" to try again'}`,
        warning: true,
      };
    case 'stopped':
      return { text: '$(circle-slash) VaultysClaw: stopped', tooltip: 'VaultysClaw: stopped', warning: false };
  }
}
