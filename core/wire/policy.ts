import { z } from 'zod';
import { BUDGETS } from '../budgets';
import { Did, StoredText } from './common';
import { BrokerAuthority } from './authority';
import { DomainPattern } from './domain-pattern';
import { PolicyRules } from './policy-rules';

export { DomainPattern };

export const RegistrationStatus = z.enum(['approved', 'pending', 'rejected', 'revoked']);
export type RegistrationStatus = z.infer<typeof RegistrationStatus>;

/** Tools an agent can be granted. */
export const CAPABILITIES = ['read_file', 'list_files', 'write_file', 'run_command', 'http_fetch', 'llm_task'] as const;
export const Capability = z.enum(CAPABILITIES);
export type Capability = z.infer<typeof Capability>;


/** Per command; each is narrowed again by the agent host's ceilings (agent start --max-*). */
export const CommandLimits = z.strictObject({
  cpuSeconds: z.number().int().positive().max(BUDGETS.commandCpuSeconds.limit),
  memoryBytes: z.number().int().positive().max(BUDGETS.commandMemoryBytes.limit),
  processes: z.number().int().positive().max(BUDGETS.commandProcesses.limit),
  fileBytes: z.number().int().positive().max(BUDGETS.commandFileBytes.limit),
  /** Bytes all the commands of one intent (or one llm_task) may add to the workspace's disk. */
  workspaceWriteBytes: z.number().int().positive().max(BUDGETS.commandWorkspaceWriteBytes.limit),
});
export type CommandLimits = z.infer<typeof CommandLimits>;

/**
 * The broker's metadata in the agent's certificate (metadata.pk2): the agent
 * enforces from this signed map only, never from an unsigned message.
 * Integers only (spec §5.8): times are epoch milliseconds.
 */
export const CertifiedPolicy = z.strictObject({
  status: RegistrationStatus,
  policyId: z.string().min(1).max(128),
  policyVersion: z.number().int().nonnegative(),
  capabilities: z.array(Capability).max(CAPABILITIES.length),
  approvalRequired: z.array(Capability).max(CAPABILITIES.length),
  maxTokensPerDay: z.number().int().nonnegative(),
  maxRequestsPerHour: z.number().int().nonnegative(),
  policyExpiresAt: z.number().int().nonnegative(),
  /** How long a tool call waits for a reviewer; the same for broker and agent, so expiry means rejection on both sides. */
  approvalTimeoutMs: z.number().int().positive(),
  /** Hosts commands and http_fetch may reach; empty: commands get no network at all and http_fetch reaches nothing. */
  allowedDomains: z.array(DomainPattern).max(BUDGETS.allowedDomains.limit),
  commandLimits: CommandLimits,
  /**
   * Allow / ask / deny per command, path, host or task tool set (policy-rules.ts). Absent (every certificate
   * before issue 16): each capability keeps its old meaning, ask when approvalRequired names it, else allow.
   */
  rules: PolicyRules.optional(),
});
export type CertifiedPolicy = z.infer<typeof CertifiedPolicy>;

/** metadata.pk2 of an agent handshake: the policy, and the broker's chain to its root when it has one. */
export const AgentCertificateMetadata = z.strictObject({ ...CertifiedPolicy.shape, authority: BrokerAuthority.optional() });
export type AgentCertificateMetadata = z.infer<typeof AgentCertificateMetadata>;

/**
 * How this agent runs commands, stated in its signed hello so the broker and the views can show it:
 * `sandboxed` (bubblewrap, network only through the egress proxy), `unconfined` (the operator's
 * --unconfined-commands), or `unavailable` (no working sandbox: run_command is refused, `detail` says how to fix it).
 */
export const Confinement = z.strictObject({
  mode: z.enum(['sandboxed', 'unconfined', 'unavailable']),
  detail: z.string().max(512),
  /** The agent host's ceilings: a policy's commandLimits are narrowed to these. */
  ceilings: CommandLimits,
});
export type Confinement = z.infer<typeof Confinement>;

/** What an agent says about itself in metadata.pk1: a display name and what it asks for. */
export const AgentHello = z.strictObject({
  name: StoredText(z.string().min(1).max(128)),
  requested: z.array(Capability).max(CAPABILITIES.length),
  agentVersion: z.string().max(64),
  /**
   * The DID this agent pins as it starts the handshake (a root, or a broker id), signed with the hello: the
   * broker takes a `pin/migrated` report only from an agent that said, on that connection, it pinned the broker's own id.
   */
  pin: Did.optional(),
  /** Absent from agents before 0.3.0: shown as unknown. */
  confinement: Confinement.optional(),
});
export type AgentHello = z.infer<typeof AgentHello>;
