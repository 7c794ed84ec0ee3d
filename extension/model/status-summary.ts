import { visibleText } from '../../core/text/untrusted-text';
import type { LiveModel } from './live-model';
import type { BrokerState } from '../connection/supervisor';

/** Broker health at a glance: its state, online agents, pending approvals. Click: the Approvals view. */
export function statusText(state: BrokerState, model: LiveModel): { text: string; tooltip: string; warning: boolean } {
  switch (state.kind) {
    case 'connected': {
      const { session, label, expectedRole } = state.connection;
      const online = model.agents().filter((a) => a.status === 'approved' && a.online).length;
      const pendingAgents = model.agents().filter((a) => a.status === 'pending').length;
      const approvals = model.pendingApprovals().length;
      // The broker's latest word on this user (the model hears users/changed): a demotion shows here at once.
      const me = model.user(session.user.did) ?? session.user;
      const role = me.removed ? 'removed' : me.role;
      const roleNotice = me.removed || me.role !== session.grantedRole || (expectedRole !== undefined && me.role !== expectedRole);
      return {
        text: `$(shield) ${online} online${pendingAgents ? ` · $(question) ${pendingAgents}` : ''} · $(bell${approvals ? '-dot' : ''}) ${approvals}${roleNotice ? ` · $(warning) ${role}` : ''}`,
        tooltip:
          `VaultysClaw: connected to ${label} as ${visibleText(me.name)} (${role})` +
          `${roleNotice ? `\nYour role changed: you are ${role}${expectedRole && me.role !== expectedRole ? `, not ${expectedRole}` : ` since you connected as ${session.grantedRole}`}` : ''}` +
          `\n${online} agents online, ${pendingAgents} registrations pending, ${approvals} approvals pending`,
        warning: approvals > 0 || roleNotice,
      };
    }
    case 'connecting':
      return { text: '$(sync~spin) VaultysClaw', tooltip: `VaultysClaw: connecting to the broker (attempt ${state.attempt})`, warning: false };
    case 'disconnected':
      return {
        text: '$(debug-disconnect) VaultysClaw',
        tooltip: `VaultysClaw: disconnected — ${state.reason}${state.retryInMs !== null ? `\nretrying in ${Math.round(state.retryInMs / 1000)} s` : '\nRun "VaultysClaw: Restart Broker" to try again'}`,
        warning: true,
      };
    case 'stopped':
      return { text: '$(circle-slash) VaultysClaw', tooltip: 'VaultysClaw: stopped', warning: false };
  }
}
