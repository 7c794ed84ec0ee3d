import { mayManage, type Role } from '../../core/rpc/roles';
import type { UserView } from '../../core/rpc/views';
import { displayName } from '../../core/text/untrusted-text';
import { who } from '../model/tree-node';
import type { BrokerSession } from './broker-session';

export interface StandingMessage {
  warning: boolean;
  text: string;
}

/** Who set a user's role, as rows show people: name and fingerprint when known, else the short DID. */
export function roleSetter(user: UserView, nameOf: (did: string) => string | undefined): string | undefined {
  return user.roleSetBy ? who(nameOf(user.roleSetBy), user.roleSetBy) : undefined;
}

/**
 * Follows users/changed about the session's own user: the session takes the broker's word (its role is what
 * menus and the status bar show), and every change of role or standing is handed to `onChange` with the
 * message for the person. Disposing stops it.
 */
export function watchOwnStanding(
  session: BrokerSession,
  where: string,
  nameOf: (did: string) => string | undefined,
  onChange: (message: StandingMessage, user: UserView) => void,
): { dispose(): void } {
  return session.on('userChanged', ({ user }) => {
    const before = session.noteSelf(user);
    if (!before) return;
    const message = roleChangeMessage(where, before, user, roleSetter(user, nameOf));
    if (message) onChange(message, user);
  });
}

/**
 * What to tell the person when the broker changes how it sees them (issue 13, finding 2): a demotion or a
 * removal is never taken silently. `setter` is who did it, as a row shows them (name and fingerprint).
 */
export function roleChangeMessage(where: string, before: Pick<UserView, 'role' | 'removed'>, after: UserView, setter: string | undefined): StandingMessage | undefined {
  const by = setter ? `, by ${setter}` : '';
  if (after.removed && !before.removed) {
    return { warning: true, text: `VaultysClaw: you were removed from ${where}${by}. The broker refuses your requests from now on.` };
  }
  if (after.role === before.role) return undefined;
  const raised = mayManage(after.role, before.role);
  return {
    warning: !raised,
    text: `VaultysClaw: your role on ${where} is now ${after.role} (was ${before.role})${by}.${raised ? '' : ' What you can do changes at once.'}`,
  };
}

/**
 * On the broker the editor started, this user must be its owner. If another key owns it (a process that won
 * the race to /rpc on an older broker, or a key since replaced), say so and by whom, instead of going on as admin.
 */
export function notOwnerMessage(role: Role, users: readonly UserView[], self: string, dataDir: string | undefined): string | undefined {
  if (role === 'owner') return undefined;
  const owners = users.filter((u) => u.role === 'owner' && !u.removed && u.did !== self).map((u) => displayName(u.name, u.did));
  return (
    `VaultysClaw: on the local broker this editor started, you are ${role}, not its owner` +
    `${owners.length ? `; it is owned by ${owners.join(', ')}` : ''}. ` +
    `If you did not set that up, stop the broker and check its data directory${dataDir ? ` (${dataDir})` : ''}: the host operator can demote or remove any owner (broker set-role, remove-user).`
  );
}
