import { z } from 'zod';
import { Did, IntentId } from '../wire/common';
import { Capability } from '../wire/policy';

/** What a webhook notification says happened (`--notify-url`). */
export const NotificationType = z.enum(['approval.requested', 'approval.decided', 'approval.expired', 'registration.pending', 'agent.revoked', 'intent.failed']);
export type NotificationType = z.infer<typeof NotificationType>;

/**
 * The facts of one notification, flat so a receiver can template them. Ids, DIDs, capabilities and times are the
 * broker's own; the strings an agent or a user chose (names, the call, a reason, a path) are cut so the whole body
 * fits BUDGETS.notifyBodyBytes, and `truncated` on the notification says when one was.
 */
export const NotificationSummary = z.strictObject({
  requestId: IntentId.optional(),
  intentId: IntentId.optional(),
  agent: Did.optional(),
  agentName: z.string().optional(),
  user: Did.optional(),
  userName: z.string().optional(),
  capability: Capability.optional(),
  /** The call's parameters as JSON (what the tool call asks). */
  call: z.string().optional(),
  cwd: z.string().optional(),
  /** The rule that asked for a reviewer, in words. */
  rule: z.string().optional(),
  /** approval: approved, rejected or expired; intent: failed or lost-agent. */
  state: z.string().optional(),
  decidedBy: Did.optional(),
  decidedByName: z.string().optional(),
  reason: z.string().optional(),
  /** Capabilities an agent asked for at registration, comma-separated as it sent them. */
  requested: z.string().optional(),
  expiresAt: z.string().optional(),
});
export type NotificationSummary = z.infer<typeof NotificationSummary>;

/** The strings of a summary that a hostile agent or user chose: what is cut, and what a Slack payload escapes. */
export const CHOSEN_TEXT_FIELDS = ['agentName', 'userName', 'call', 'cwd', 'rule', 'decidedByName', 'reason', 'requested'] as const satisfies readonly (keyof NotificationSummary)[];

/** The body of a `--notify-format json` notification (the Slack format carries the same facts as text). */
export const NotificationBody = z.strictObject({
  type: NotificationType,
  /** Also in the X-VaultysClaw-Delivery header: the same on every attempt. */
  deliveryId: z.string().uuid(),
  time: z.string().datetime(),
  /** The broker's DID: which broker of a team's several sent it. */
  broker: Did,
  /** One line for people. */
  text: z.string(),
  summary: NotificationSummary,
  /** Opens the approval in VS Code (core/ops/approval-link.ts). It decides nothing. */
  link: z.string().optional(),
  truncated: z.boolean(),
});
export type NotificationBody = z.infer<typeof NotificationBody>;
