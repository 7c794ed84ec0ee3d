import { REVIEWERS } from '../../core/rpc/roles';
import type { PolicyTestResult, UserView } from '../../core/rpc/views';
import { visibleText } from '../../core/text/untrusted-text';
import { LOCAL_OPERATOR_EXPLAINED, LOCAL_OPERATOR_NAME } from './local-operator';

/** The choices of the modal shown before a dispatch nobody else could review. */
export const SOLO_CHOICES = { dispatch: 'Dispatch Anyway', invite: 'How to Invite a Reviewer' } as const;

export type SoloReview =
  | { deadEnd: false }
  | {
      deadEnd: true;
      /** The modal's one line. */
      message: string;
      /** What would happen, who else there is, and the way out. */
      detail: string;
    };

/**
 * Whether a call the dry run says needs reviewers could ever get them: the requester never reviews their own
 * call (unless the rule lets them, selfReview), so it needs that many other users who may decide (reviewer, admin
 * or owner, not removed). The broker host's command line (the local operator) can decide only from a shell on that
 * host: it is named, not counted, so a user alone in the editor is told before the call sits in the queue until it
 * expires.
 */
export function soloReview(dry: PolicyTestResult, requester: string, users: readonly UserView[]): SoloReview {
  if (dry.verdict !== 'needs-approval' || dry.selfReview) return { deadEnd: false };
  const deciders = users.filter((u) => !u.removed && REVIEWERS.includes(u.role) && u.did !== requester);
  const people = deciders.filter((u) => u.name !== LOCAL_OPERATOR_NAME);
  if (people.length >= dry.reviewers) return { deadEnd: false };
  const needed = dry.reviewers === 1 ? 'a reviewer other than you' : `${dry.reviewers} reviewers other than you`;
  const nobody = people.length === 0 ? 'nobody else can review on this broker' : `only ${people.map((u) => visibleText(u.name)).join(', ')} can review on this broker`;
  const hostOnly = deciders.length > people.length;
  return {
    deadEnd: true,
    message: `This call needs ${needed}; ${nobody}.`,
    detail: [
      `Dispatched now, it waits on the agent until the approval times out, then ends rejected (approval-expired). You can cancel it meanwhile.`,
      ...(hostOnly ? [`${LOCAL_OPERATOR_EXPLAINED}`] : []),
      'To have it reviewed, invite a reviewer (VaultysClaw: Invite User, role reviewer), or change the rule that asks for one (VaultysClaw: Edit Policy Rules).',
    ].join('\n\n'),
  };
}
