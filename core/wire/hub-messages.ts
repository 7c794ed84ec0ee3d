import { z } from 'zod';
import { BUDGETS } from '../budgets';
import { ApprovalDecisionBundle } from './approval';
import { boundedBytes, Did, Envelope, IntentId } from './common';
import { RegistrationStatus } from './policy';

/**
 * Broker ⇄ agent frames: binary WebSocket messages, each one canonical
 * MessagePack map discriminated by `type`. Parsed once at the edge
 * (decodeHubFrame); everything past it handles typed values only.
 */
export const HUB_PROTOCOL_VERSION = 1;
/** Challenger protocol and service of agent authentication: a user handshake can never pass for an agent one. */
export const AGENT_AUTH = { protocol: 'vaultysclaw', service: 'agent-auth/v1' } as const;
/** A frame larger than this closes the connection: room for a 1 MiB file write or read plus its envelope. */
export const MAX_HUB_FRAME_BYTES = BUDGETS.hubFrameBytes.limit;

const bin = (max: number) =>
  z.custom<Uint8Array>((v) => v instanceof Uint8Array, { message: 'must be bytes' }).refine((b) => b.length <= max, {
    message: `at most ${max} bytes`,
  });
const challenge = bin(BUDGETS.challengeMessageBytes.limit);

/** Agent → broker. */
export const AgentFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auth/init'), v: z.literal(HUB_PROTOCOL_VERSION), challenge }),
  z.strictObject({ type: z.literal('auth/complete'), challenge }),
  z.strictObject({ type: z.literal('result'), envelope: Envelope }),
  z.strictObject({ type: z.literal('progress'), envelope: Envelope }),
  z.strictObject({ type: z.literal('approval/request'), envelope: Envelope }),
  /** This agent now pins the broker's root instead of the broker's own id (audited by the broker). */
  z.strictObject({ type: z.literal('pin/migrated'), root: Did }),
]);
export type AgentFrame = z.infer<typeof AgentFrame>;


/** Broker → agent. */
export const BrokerFrame = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auth/step1'), challenge }),
  z.strictObject({ type: z.literal('auth/accepted'), status: RegistrationStatus }),
  z.strictObject({
    type: z.literal('error'),
    code: z.string().max(64),
    message: z.string().max(1024),
    /** The intent a refusal is about; sent only to agents that read it (namesRefusedIntent). */
    intentId: IntentId.optional(),
  }),
  z.strictObject({ type: z.literal('intent'), envelope: Envelope }),
  /** The agent's result was recorded: it may forget it. */
  z.strictObject({ type: z.literal('result/ack'), intentId: IntentId }),
  /**
   * update_capabilities: the policy changed. The agent answers with a fresh
   * handshake; nothing changes on its side until the new certificate verifies.
   */
  z.strictObject({ type: z.literal('update_capabilities'), policyVersion: z.number().int().nonnegative() }),
  /** A delegation certificate concerning this agent (or all agents). */
  z.strictObject({ type: z.literal('delegation'), envelope: Envelope }),
  /** The current signed revocation list; sent after authentication and on every change. */
  z.strictObject({ type: z.literal('revocations'), envelope: Envelope }),
  z.strictObject({ type: z.literal('approval/decision'), bundle: ApprovalDecisionBundle }),
  /**
   * The broker's identity or its root's revocations changed (a rotation, a new
   * root certificate). Like update_capabilities, only a trigger: the agent
   * renews its handshake and trusts nothing until the new chain verifies.
   */
  z.strictObject({ type: z.literal('authority/changed') }),
  /** Stop one intent (IntentCancelBody, ctx vaultysclaw/intent-cancel/v1); sent only to agents that read it (readsIntentCancel). */
  z.strictObject({ type: z.literal('intent/cancel'), envelope: Envelope }),
  /**
   * The broker's latest signed audit checkpoint, the exact audit.log line: the agent keeps it as a witness of the
   * broker's log (a cut back before it is then detectable). Bounded here only by the frame: the agent refuses one
   * over BUDGETS.auditHeadBytes without closing the connection. Sent only to agents that read it (readsAuditHead).
   */
  z.strictObject({ type: z.literal('audit/head'), line: bin(MAX_HUB_FRAME_BYTES) }),
]);
export type BrokerFrame = z.infer<typeof BrokerFrame>;

/**
 * An intent frame the agent could not decode because its envelope is over the wire's limits (one signed by a
 * broker from before the limit, say): read just far enough for the agent to verify the broker's signature and
 * answer the intent it names with a signed refusal, instead of dropping the connection and getting it again.
 */
export const OversizedIntentFrame = z.object({
  type: z.literal('intent'),
  envelope: z.object({ payload: boundedBytes(MAX_HUB_FRAME_BYTES), signature: boundedBytes(BUDGETS.challengeMessageBytes.limit) }),
});

/** The first agent version whose decoder accepts an `error` frame's intentId (strict schemas refuse unknown keys). */
const REFUSAL_INTENT_ID_SINCE = [0, 2, 0];

/** The first agent version whose certificate decoder accepts a policy's `rules` (issue 16). */
export const POLICY_RULES_SINCE = [0, 4, 0] as const;

/** Whether an agent that says it runs `agentVersion` reads an `error` frame's intentId; an older one would drop the connection over it. */
export const readsRefusedIntentId = (agentVersion: string | undefined): boolean => runsAtLeast(agentVersion, REFUSAL_INTENT_ID_SINCE);

/** Whether an agent that says it runs `agentVersion` reads rules in its certificate; an older one refuses the handshake. */
export const readsPolicyRules = (agentVersion: string | undefined): boolean => runsAtLeast(agentVersion, POLICY_RULES_SINCE);

/** The first agent version whose decoder accepts an `intent/cancel` frame. */
const INTENT_CANCEL_SINCE = [0, 4, 0];

/** Whether an agent that says it runs `agentVersion` reads an `intent/cancel` frame; an older one would drop the connection over it. */
export const readsIntentCancel = (agentVersion: string | undefined): boolean => runsAtLeast(agentVersion, INTENT_CANCEL_SINCE);

/** The first agent version whose decoder accepts an intent's `via` and a rule's `chosenBy` (issue 18). */
export const INTENT_ORIGIN_SINCE = [0, 5, 0] as const;

/** Whether an agent that says it runs `agentVersion` reads an intent's `via`; an older one refuses the intent as malformed. */
export const readsIntentOrigin = (agentVersion: string | undefined): boolean => runsAtLeast(agentVersion, INTENT_ORIGIN_SINCE);

/** The first agent version whose decoder accepts an `audit/head` frame (issue 21). */
export const AUDIT_HEAD_SINCE = [0, 6, 0] as const;

/** Whether an agent that says it runs `agentVersion` reads an `audit/head` frame; an older one would drop the connection over it. */
export const readsAuditHead = (agentVersion: string | undefined): boolean => runsAtLeast(agentVersion, AUDIT_HEAD_SINCE);

function runsAtLeast(agentVersion: string | undefined, since: readonly number[]): boolean {
  const parts = /^(\d+)\.(\d+)\.(\d+)/.exec(agentVersion ?? '')?.slice(1).map(Number);
  if (!parts) return false;
  const at = parts.findIndex((n, i) => n !== since[i]);
  return at < 0 || parts[at]! > since[at]!;
}
