import type { ApprovalView } from '../../core/rpc/views';
import type { Names } from '../model/approvals-tree';
import { who } from '../model/tree-node';
import { inertLinks } from '../model/notification-text';
import { cannotDecide, shortCall, type Reviewer } from './panel-controller';

/**
 * Whether this reviewer may decide this request, as the panel would judge it (cannotDecide, the one rule): not their
 * own request (unless a self-reviewable model call), a reviewer role or above, pending, not already approved by them.
 * A list's cut params do not count here: the panel reads the request in full before anyone decides.
 */
export function mayReview(approval: ApprovalView, reviewer: Reviewer, now: number): boolean {
  return cannotDecide({ ...approval, paramsTruncated: false }, reviewer, true, now) === null;
}

/**
 * Which requests to announce to a reviewer: each pending request once, whatever changes after (a second approval,
 * a reconnect that lists it again). A request is remembered while it may still be pending, and forgotten once seen
 * decided or, on a complete list, absent from it: the memory stays as small as the queue.
 */
export class ReviewNotices {
  readonly #seen = new Set<string>();

  /**
   * The requests to announce now. `complete`: `approvals` holds every pending request (the model has loaded), so a
   * remembered id missing from it is no longer pending. `skip`: requests the reviewer already has open.
   */
  take(approvals: readonly ApprovalView[], reviewer: Reviewer | undefined, now: number, options: { complete: boolean; skip?: (requestId: string) => boolean }): ApprovalView[] {
    if (options.complete) {
      const present = new Set(approvals.map((a) => a.requestId));
      for (const id of this.#seen) if (!present.has(id)) this.#seen.delete(id);
    }
    if (!reviewer) return [];
    const announce: ApprovalView[] = [];
    for (const a of approvals) {
      if (a.state !== 'pending') {
        this.#seen.delete(a.requestId);
        continue;
      }
      if (this.#seen.has(a.requestId)) continue;
      this.#seen.add(a.requestId);
      if (!options.skip?.(a.requestId) && mayReview(a, reviewer, now)) announce.push(a);
    }
    return announce;
  }
}

/** "alice (1A2B …) asks to write_file notes.txt on demo-agent (…): your review is needed (1 of 2 approvals so far)." */
export function reviewMessage(approval: ApprovalView, names: Names): string {
  const user = who(names.user(approval.user)?.name, approval.user);
  const agent = who(names.agent(approval.agent)?.name, approval.agent);
  const quorum = approval.reviewersRequired > 1 ? ` (${approval.approvals.length} of ${approval.reviewersRequired} approvals so far)` : '';
  const asker = approval.modelCall ? `The model of ${user}'s task` : user;
  return inertLinks(`VaultysClaw: ${asker} asks to ${approval.capability} ${shortCall(approval)} on ${agent}; your review is needed${quorum}.`);
}

/**
 * Of the requests a review prompt announced, those still waiting for this reviewer: the prompt closes (VS Code lets a
 * progress notification end, never an ordinary one) once none is, so a notice never offers a decision already made.
 * A request decided, withdrawn, expired or already approved by this reviewer is done; one whose panel is open is the
 * panel's to show; one absent from a complete list is gone. While the list is partial (disconnected, loading) an
 * absent request is unknown, and kept.
 */
export function stillAwaiting(
  requestIds: readonly string[],
  approvals: readonly ApprovalView[],
  reviewer: Reviewer | undefined,
  now: number,
  options: { complete: boolean; skip?: (requestId: string) => boolean },
): string[] {
  const byId = new Map(approvals.map((a) => [a.requestId, a]));
  return requestIds.filter((id) => {
    const approval = byId.get(id);
    if (!approval) return !options.complete;
    if (options.skip?.(id)) return false;
    return reviewer ? mayReview(approval, reviewer, now) : approval.state === 'pending' && approval.expiresAt > now;
  });
}
