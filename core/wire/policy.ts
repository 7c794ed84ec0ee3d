import { z } from 'zod';
import { Did } from './common';
import { BrokerAuthority } from './authority';

export const RegistrationStatus = z.enum(['approved', 'pending', 'rejected', 'revoked']);
export type RegistrationStatus = z.infer<typeof RegistrationStatus>;

/** Tools an agent can be granted. */
export const CAPABILITIES = ['read_file', 'list_files', 'write_file', 'run_command', 'llm_task'] as const;
export const Capability = z.enum(CAPABILITIES);
export type Capability = z.infer<typeof Capability>;

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
});
export type CertifiedPolicy = z.infer<typeof CertifiedPolicy>;

/** metadata.pk2 of an agent handshake: the policy, and the broker's chain to its root when it has one. */
export const AgentCertificateMetadata = z.strictObject({ ...CertifiedPolicy.shape, authority: BrokerAuthority.optional() });
export type AgentCertificateMetadata = z.infer<typeof AgentCertificateMetadata>;

/** What an agent says about itself in metadata.pk1: a display name and what it asks for. */
export const AgentHello = z.strictObject({
  name: z.string().min(1).max(128),
  requested: z.array(Capability).max(CAPABILITIES.length),
  agentVersion: z.string().max(64),
  /**
   * The DID this agent pins as it starts the handshake (a root, or a broker id), signed with the hello: the
   * broker takes a `pin/migrated` report only from an agent that said, on that connection, it pinned the broker's own id.
   */
  pin: Did.optional(),
});
export type AgentHello = z.infer<typeof AgentHello>;
