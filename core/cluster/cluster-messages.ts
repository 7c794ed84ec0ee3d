import { z } from 'zod';
import { BUDGETS } from '../budgets';
import { ApprovalDecisionBundle } from '../wire/approval';
import { boundedBytes, Did, Envelope, IntentId } from '../wire/common';

/**
 * What broker nodes tell each other over the cluster bus (issue 20). The bus is never authority: a message is
 * either a hint naming what to re-read from the shared database (a view changed, a revocation list moved, a policy
 * changed), or something already signed that the receiving node checks before it acts (an intent the broker's
 * own id signed, an agent's signed progress, a reviewer's decision the broker countersigned). Whoever can publish
 * on the bus can make nodes re-read rows and re-send what is already signed; nothing more.
 */

/** One run of one broker node, chosen at its start: which node holds an agent, as far as the others heard. */
export const NodeInstance = z.string().min(1).max(64);

/** To every node. */
export const ClusterBroadcast = z.discriminatedUnion('kind', [
  /** A client-visible view changed on the node that says so: every other node re-reads it and tells its clients. */
  z.strictObject({ kind: z.literal('agentChanged'), did: Did }),
  z.strictObject({ kind: z.literal('registrationChanged'), did: Did }),
  z.strictObject({ kind: z.literal('intentChanged'), id: IntentId }),
  z.strictObject({ kind: z.literal('approvalChanged'), requestId: IntentId }),
  z.strictObject({ kind: z.literal('userChanged'), did: Did }),
  /** An agent's progress, as it signed it: checked against the agent's key from the database before any client hears it. */
  z.strictObject({ kind: z.literal('intentProgress'), envelope: Envelope }),
  /** The revocation list moved to `version`: each node pushes the current list (read again from the database) to its agents. */
  z.strictObject({ kind: z.literal('revocations'), version: z.number().int().nonnegative() }),
  /** An agent's policy changed: the node holding it renews its certificate (update_capabilities), reading the policy again. */
  z.strictObject({ kind: z.literal('policyChanged'), did: Did }),
  /** An agent's connection on the node that says so closed: other nodes' views show it offline (unless another node holds it). */
  z.strictObject({ kind: z.literal('agentGone'), did: Did }),
  /**
   * An agent authenticated on the node that says so: another node holding an older connection of it closes that one
   * (replaced), and every node drops the agent's lost-agent grace timer (the new node re-sends what is in flight).
   * `handshake` is that authentication's COMPLETE certificate, signed by the agent and by the broker's id: the one
   * hint acted on without a database to re-read, so it carries its proof. Only a certificate newer than the closing
   * node's own, and live, closes a connection; a replayed one is older than the connection it would close.
   */
  z.strictObject({ kind: z.literal('agentBack'), did: Did, handshake: boundedBytes(BUDGETS.challengeMessageBytes.limit), node: NodeInstance }),
  /**
   * The node that says so runs, every few seconds: the agents it was last heard to hold are shown offline on the
   * others once it falls silent (a node killed -9 says nothing of its agents). Believed only for views, and to warn
   * an operator who started two nodes under one `--node-name` (both audit logs would claim that node).
   */
  z.strictObject({ kind: z.literal('nodeAlive'), node: NodeInstance, name: z.string().max(256) }),
]);
export type ClusterBroadcast = z.infer<typeof ClusterBroadcast>;

/** To the one node holding an agent's connection, which checks it and hands it to the agent. */
export const AgentDelivery = z.discriminatedUnion('kind', [
  /** An intent the broker's id signed, recorded `sent` in the database by the node that signed it. */
  z.strictObject({ kind: z.literal('intent'), envelope: Envelope, policyVersion: z.number().int().nonnegative() }),
  /** A reviewer's signed decision with the broker's countersignature. */
  z.strictObject({ kind: z.literal('approvalDecision'), bundle: ApprovalDecisionBundle }),
  /** An intent was cancelled: the holder reads the cancel kept in the database and signs it for its connection. */
  z.strictObject({ kind: z.literal('intentCancel'), intentId: IntentId }),
  /** Whether the agent is connected here: a node's lost-agent grace period ends nothing while another node holds it. */
  z.strictObject({ kind: z.literal('presence') }),
]);
export type AgentDelivery = z.infer<typeof AgentDelivery>;

/**
 * The holder's answer: ok once the frame is on the agent's connection (or held for its renewal). To `presence`, what
 * the dispatching node's gates need of the connection: the agent's version (which frames it reads) and whether it
 * has proven the broker's current id; and which node run holds it, for the asker's views.
 */
export const DeliveryReply = z.strictObject({
  ok: z.boolean(),
  message: z.string().max(1024).optional(),
  agent: z.strictObject({ version: z.string().max(64).nullable(), proven: z.boolean(), node: NodeInstance }).optional(),
});
export type DeliveryReply = z.infer<typeof DeliveryReply>;
