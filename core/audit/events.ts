import { z } from 'zod';
import { BrokerInfo } from '../rpc/methods';
import { PolicyInput } from '../rpc/views';
import { Role } from '../rpc/roles';
import { RpcErrorReason } from '../rpc/rpc-error';
import { CommandLimits, Capability, Confinement, RegistrationStatus } from '../wire/policy';
import { IntentOutcome } from '../wire/intent';
import { TokenUsageReport } from '../wire/task';

/**
 * Every event the broker writes to its hash-chained audit log, with its fields: the one place an auditor, a SIEM
 * rule or a test reads what a line means. The broker writes only through `audit(log)` (broker/audit/audit-log.ts),
 * whose event names and field types the compiler checks against this table, so a renamed event or a dropped field
 * cannot slip out of what operators alert on. Fields are the caller's; pino adds level, time, pid, hostname, msg
 * and a child logger's bindings (component, remote, transport), and the chain adds seq and prev.
 */

const did = z.string();
const err = z.string();
/** Why something was refused: a reason from a fixed set, and the words that explain it. */
const refusal = { code: z.string().optional(), reason: z.string().optional(), detail: z.string().nullish() };
/** Added to a line an agent that is not approved causes: it went through the refusal budget (AgentConnection.auditConnection). */
const budgetedCode = { code: RegistrationStatus.optional() };
const chainFields = { root: z.string().nullable(), serial: z.number().nullable(), expiresAt: z.number().nullable(), revocations: z.number() };
const intentSubmitted = { intentId: z.string(), user: did, role: Role, agent: did, capability: Capability, via: z.string().optional() };
const intentAnswered = { intentId: z.string(), agent: did, outcome: IntentOutcome, reason: z.string().nullish() };

export const AUDIT_EVENTS = {
  // The log itself (broker/audit/): the verifier gives these meaning.
  'audit.checkpoint': z.object({
    reason: z.enum(['start', 'lines', 'interval', 'shutdown', 'rotation', 'resume']),
    seq: z.number(),
    head: z.string(),
    broker: did,
    brokerId: z.string(),
    signature: z.string(),
  }),
  'audit.torn-line': z.object({ torn: z.object({ lines: z.number(), bytes: z.number(), sha256: z.string() }) }),
  'audit.unparsed': z.object({ raw: z.string() }),
  'audit.recovered': z.object({ torn: z.object({ start: z.number(), bytes: z.number(), lines: z.number(), sha256: z.string(), terminated: z.boolean() }) }),
  'audit.unverified-tail': z.object({ fromSeq: z.number().nullable(), toSeq: z.number(), entries: z.number() }),

  // The broker process.
  'broker.started': z.object({ did, root: z.string().nullable(), certificate: BrokerInfo.shape.certificate, url: z.string(), createdIdentity: z.boolean() }),
  'broker.stopping': z.object({}),
  'broker.internal-error': z.object({ what: z.string(), err }),

  // The broker's own identity (broker/identity/).
  'identity.rotated': z.object({ actor: z.string(), from: did, to: did, toId: z.string(), ...chainFields, rootId: z.string().optional(), certificate: z.object({ payload: z.string(), signature: z.string() }).optional() }),
  'identity.reload-refused': z.object({ actor: z.string(), detail: z.string() }),
  'identity.authority-updated': z.object({ actor: z.string(), did, ...chainFields }),
  'identity.announced': z.object({ agents: z.number() }),
  'identity.certificate-expired': z.object({ detail: z.string() }),
  'agent.pin-migration-refused': z.object({ did, root: z.string(), expected: z.string().nullable() }),
  'agent.pin-migrated': z.object({ did, root: z.string(), from: did }),

  // Authentication, of agents on the hub and of users on /rpc.
  'auth.succeeded': z.object({
    kind: z.literal('user').optional(),
    did,
    role: Role.optional(),
    status: RegistrationStatus.optional(),
    policyVersion: z.number().optional(),
    allowedDomains: z.array(z.string()).optional(),
    commandLimits: CommandLimits.optional(),
    confinement: Confinement.shape.mode.or(z.literal('unknown')).optional(),
    ...budgetedCode,
  }),
  'auth.refused': z.object({ kind: z.literal('user').optional(), did: did.optional(), idType: z.string().optional(), ...refusal }),
  'auth.timeout': z.object({ code: z.literal('handshake-timeout') }),
  'auth.refused-summary': z.object({ intervalMs: z.number(), suppressed: z.number(), reasons: z.record(z.string(), z.number()), addresses: z.record(z.string(), z.number()) }),
  'agent.refused-summary': z.object({ did: did.optional(), intervalMs: z.number(), suppressed: z.number(), reasons: z.record(z.string(), z.number()) }),

  // The agent hub's edge (broker/hub/).
  'hub.refused': z.object({ code: z.string(), detail: z.string().optional(), did: did.optional(), origin: z.string().optional(), remote: z.string().optional() }),
  'hub.not-approved': z.object({ code: z.string(), detail: z.string(), did: did.optional(), frame: z.string() }),
  'hub.rate-limited': z.object({ code: z.literal('rate-limit'), did: did.optional() }),
  'hub.bad-frame': z.object({ code: z.string(), detail: z.string(), did: did.optional() }),
  'hub.socket-error': z.object({ code: z.literal('socket-error'), err }),
  'hub.backpressure': z.object({ did: did.optional(), buffered: z.number() }),
  'hub.evicted': z.object({}),
  'hub.internal-error': z.object({ did: did.optional(), what: z.string().optional(), err }),

  // Agents and their registration (broker/agents/, broker/broker.ts).
  'registration.pending': z.object({ did, name: z.string(), requested: z.array(Capability) }),
  'registration.approved': z.object({ actor: did, did, policy: PolicyInput }),
  'registration.rejected': z.object({ actor: did, did, reason: z.string() }),
  'registration.expired': z.object({ did, name: z.string(), lifetimeMs: z.number() }),
  'registration.expiry-failed': z.object({ err }),
  'policy.updated': z.object({ actor: did, did, policy: PolicyInput, policyVersion: z.number() }),
  /** "Approve and allow this from now on": the exact allow rule an admin added from an approval request. */
  'policy.rule-added': z.object({ actor: did, did, requestId: z.string(), capability: Capability, rule: z.string(), policyVersion: z.number() }),
  'agent.revoked': z.object({ actor: did, did, reason: z.string() }),
  'agent.offline': z.object({ did, ...budgetedCode }),
  /** A message of the cluster bus this node did not believe (a signature that does not hold, a row that says otherwise). */
  'cluster.message-refused': z.object({ what: z.string(), detail: z.string() }),
  'agent.confinement': z.object({
    did: did.optional(),
    mode: Confinement.shape.mode.or(z.literal('unknown')),
    was: Confinement.shape.mode.or(z.literal('unknown')),
    detail: z.string().optional(),
    ceilings: CommandLimits.optional(),
    ...budgetedCode,
  }),

  // Users and invitations (broker/users/).
  'user.enrolled': z.object({ did, role: Role, invitedBy: did.nullable(), origin: z.string() }),
  'user.role-changed': z.object({ actor: did, did, from: Role, to: Role }),
  'user.renamed': z.object({ actor: did, did, from: z.string(), to: z.string() }),
  'user.removed': z.object({ actor: did, did }),
  'invitation.created': z.object({ actor: did, role: Role, invitation: z.string(), expiresAt: z.number() }),
  'invitation.revoked': z.object({ actor: did, invitation: z.string() }),

  // User requests on /rpc (broker/rpc/).
  'rpc.forbidden': z.object({ method: z.string(), did, role: Role.or(z.literal('none')) }),
  'rpc.refused': z.object({ method: z.string(), did, code: z.number(), reason: RpcErrorReason, detail: z.string() }),
  'rpc.error': z.object({ method: z.string(), err }),
  'rpc.notify-failed': z.object({ err }),
  'rpc.transport-error': z.object({ code: z.literal('bad-frame').optional(), err }),
  'rpc.backpressure': z.object({ buffered: z.number() }),
  'rpc.internal-error': z.object({ transport: z.string().optional(), err }),

  // Intents (broker/intents/): one line per submission, its outcome included.
  'intent.routed': z.object(intentSubmitted),
  'intent.refused': z.object({ ...intentSubmitted, reason: z.string(), detail: z.string() }),
  'intent.result': z.object(intentAnswered),
  'intent.late-result': z.object(intentAnswered),
  'intent.resent': z.object({ intentId: z.string(), agent: did, resends: z.number() }),
  'intent.lost': z.object({ intentId: z.string(), agent: did, reason: z.enum(['resend-limit', 'answer-deadline']).optional(), resends: z.number().optional(), deadline: z.number().optional() }),
  'result.refused': z.object({ did: did.optional(), intentId: z.string().optional(), claimed: z.string().optional(), ...refusal }),
  'progress.refused': z.object({ did: did.optional(), intentId: z.string(), reason: z.string() }),
  'tokens.reported': z.object({ intentId: z.string(), agent: did, usage: z.array(TokenUsageReport).readonly() }),
  'tokens.refused': z.object({ did, intentId: z.string(), day: z.string(), reason: z.string(), detail: z.string() }),
  'tokens.clamped': z.object({ did, intentId: z.string(), day: z.string(), claimed: z.number(), counted: z.number() }),
  'router.internal-error': z.object({ timer: z.string(), err }),

  // Tool approvals (broker/approvals/).
  'approval.requested': z.object({ requestId: z.string(), intentId: z.string(), agent: did, user: did, capability: Capability, expiresAt: z.number() }),
  'approval.decided': z.object({
    requestId: z.string(),
    intentId: z.string(),
    reviewer: did,
    role: Role,
    decision: z.enum(['approve', 'reject']),
    reason: z.string().nullable(),
    /** The dispatching user approved a call their task's model chose (a rule's selfReview "model-calls"). */
    selfReview: z.boolean().optional(),
    /** Approvals so far and how many the rule requires; the request stays pending until they are equal. */
    approvals: z.number().optional(),
    required: z.number().optional(),
  }),
  'approval.refused': z.object({ did: did.optional(), ...refusal }),
  'approval.decision-refused': z.object({ did, reason: z.string() }),
  'approval.self-refused': z.object({ did, requestId: z.string() }),
  'approval.cancelled': z.object({ requestId: z.string(), intentId: z.string(), agent: did, detail: z.string() }),
  'approval.expired': z.object({ requestId: z.string() }),

  // Delegation certificates and their revocation (broker/delegation/).
  'delegation.issued': z.object({ actor: did, grant: z.string(), user: did, agent: z.string(), capabilities: z.array(Capability), expiresAt: z.number() }),
  'delegation.revoked': z.object({ actor: did, grant: z.string(), user: did, agent: z.string() }),
  'delegation.user-revoked': z.object({ did }),
  'delegation.role-revoked': z.object({ did, role: Role, certificates: z.number() }),
  'delegation.reissued': z.object({ count: z.number(), by: did }),
  'delegation.role-certificates-full': z.object({ user: did, agent: z.string(), limit: z.number() }),
  'revocations.published': z.object({ version: z.number(), agents: z.number().optional(), fanOutMs: z.number().optional() }),

  // Issue 17: a revoked or rejected agent taken out of the lists (its row and key status stay).
  'agent.removed': z.object({ actor: did, did, name: z.string(), status: z.enum(['revoked', 'rejected']) }),
  // Cancels (broker/intents/): who ended an intent, and whether its agent was told (signed) to stop it.
  'intent.cancelled': z.object({ intentId: z.string(), agent: did, user: did, by: did, role: Role, from: z.string(), agentTold: z.boolean() }),
  // A cancel its agent had not answered, signed afresh to its new connection; or given up (resend-limit, or over the per-agent budget).
  'intent.cancel-resent': z.object({ intentId: z.string(), agent: did, resends: z.number() }),
  'intent.cancel-dropped': z.object({ intentId: z.string(), agent: did, reason: z.enum(['resend-limit', 'agent-budget']) }),

  // Issue 21: webhook notifications (broker/ops/notify/). `endpoint` is the receiver's origin, never its whole URL
  // (a webhook URL's path is often its secret), and no line carries the signing key.
  'notify.started': z.object({ endpoint: z.string(), format: z.enum(['json', 'slack']) }),
  'notify.delivered': z.object({ deliveryId: z.string(), type: z.string(), endpoint: z.string(), attempts: z.number(), status: z.number() }),
  'notify.failed': z.object({ deliveryId: z.string(), type: z.string(), endpoint: z.string(), attempt: z.number(), error: z.string(), status: z.number().optional() }),
  /** Given up (attempts spent, pushed out of the full queue, the broker stopping); `written` false: the dead-letter file is full, only counted (`dropped` so far). */
  'notify.dead-lettered': z.object({ deliveryId: z.string(), type: z.string(), endpoint: z.string(), reason: z.enum(['attempts', 'queue-full', 'stopping']), attempts: z.number(), written: z.boolean(), dropped: z.number() }),
  'notify.internal-error': z.object({ err }),
  // Issue 21: the checkpoint witness (broker/audit/witness.ts): once per failure streak, and when it writes again.
  'audit.witness-failed': z.object({ file: z.string(), err, checkpointSeq: z.number().nullable() }),
  'audit.witness-recovered': z.object({ file: z.string(), missed: z.number(), checkpointSeq: z.number() }),
  // Sending the latest checkpoint to agents (broker/audit/audit-head-push.ts) failed; the broker goes on.
  'audit.head-push-failed': z.object({ err }),
  // Issue 21: audit lines streamed to a SIEM (broker/audit/streams/). One line when a destination starts failing
  // (its origin only, never a path or a token), one when it has caught up again: each is streamed too, so a retry loop writes none.
  'audit.stream-failing': z.object({ destination: z.enum(['stdout', 'syslog', 'https']), endpoint: z.string(), reason: z.string() }),
  'audit.stream-recovered': z.object({ destination: z.enum(['stdout', 'syslog', 'https']), endpoint: z.string(), caughtUp: z.number(), attempts: z.number(), downMs: z.number() }),
  // Issue 21: the metrics and health listener (broker/ops/ops-server.ts): where it listens (port 0 picks one), and a request it could not serve.
  'ops.listening': z.object({ url: z.string() }),
  'ops.internal-error': z.object({ what: z.string(), err }),
  // Issue 20: the cluster bus between broker nodes (broker/cluster/nats-bus.ts). `server` is host:port, never a
  // URL with credentials. One bus-down per outage and one bus-up when it is back; what the bus refused (a message
  // past BUDGETS.clusterMessageBytes, undecodable or off-schema, or past a concurrency budget) and handlers that
  // failed go through a refusal budget: the first lines of an interval in full, the rest in one summary.
  'cluster.bus-down': z.object({ node: z.string(), server: z.string() }),
  'cluster.bus-up': z.object({ node: z.string(), server: z.string(), downMs: z.number() }),
  'cluster.refused': z.object({ node: z.string(), direction: z.enum(['send', 'receive']), subject: z.enum(['broadcast', 'delivery', 'reply']), code: z.string(), detail: z.string().optional() }),
  'cluster.handler-failed': z.object({ node: z.string(), subject: z.enum(['broadcast', 'delivery']), kind: z.string(), err }),
  // Another node run said it runs under this node's name: both audit logs would claim the node (written once a run).
  'cluster.node-name-taken': z.object({ node: z.string(), other: z.string() }),
  'cluster.refused-summary': z.object({ node: z.string(), intervalMs: z.number(), suppressed: z.number(), reasons: z.record(z.string(), z.number()) }),
  // An intent in flight delivered again to the node holding its agent (a first delivery lost with the bus), and a
  // reviewer's decision the node holding its agent did not take (kept and sent again, or given up past the bound),
  // then taken.
  'intent.redelivered': z.object({ intentId: z.string(), agent: did, node: z.string() }),
  'approval.undelivered': z.object({ requestId: z.string(), agent: did, node: z.string(), outcome: z.enum(['kept', 'given-up']) }),
  'approval.redelivered': z.object({ requestId: z.string(), agent: did, node: z.string() }),
} as const;

export type AuditEvent = keyof typeof AUDIT_EVENTS;
/** The fields a caller passes with `event` (what the compiler checks at each log call). */
export type AuditFields<E extends AuditEvent> = z.input<(typeof AUDIT_EVENTS)[E]>;
/** A whole line, `event` included: for code that builds a line and hands it to a channel that writes it (a refusal budget). */
export type AuditLine<E extends AuditEvent = AuditEvent> = E extends AuditEvent ? { event: E } & AuditFields<E> : never;

/**
 * The security events the seed's audit section promises an operator's SIEM (security-model: "All security-relevant
 * events are logged"), each with the catalogue events that record it; test/broker/audit/security-events.test.ts drives the
 * broker through each path and finds them, with their fields, in its audit.log.
 */
export const SECURITY_EVENTS = {
  'agent registration approved': ['registration.approved'],
  'agent registration rejected': ['registration.rejected'],
  'intent submission and routing': ['intent.routed', 'intent.refused'],
  'policy updates': ['policy.updated', 'policy.rule-added'],
  'delegation certificate issuance': ['delegation.issued'],
  'tool approval requests and decisions': ['approval.requested', 'approval.decided'],
  'authentication events': ['auth.succeeded', 'auth.refused'],
} as const satisfies Record<string, readonly AuditEvent[]>;
