import type { z } from 'zod';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import type { PolicyInput } from '../../core/rpc/views';
import type { Capability, CertifiedPolicy, CommandLimits } from '../../core/wire/policy';
import { PolicyRules } from '../../core/wire/policy-rules';
import type { BrokerDatabase } from './database';

interface PolicyRow {
  agent_did: string;
  version: number;
  capabilities: string;
  approval_required: string;
  max_tokens_per_day: number;
  max_requests_per_hour: number;
  policy_expires_at: number;
  allowed_domains: string;
  cpu_seconds: number | null;
  memory_bytes: number | null;
  processes: number | null;
  file_bytes: number | null;
  workspace_write_bytes: number | null;
  rules: string | null;
}

export type StoredPolicy = Omit<CertifiedPolicy, 'status' | 'approvalTimeoutMs'>;

/**
 * What an admin chose, every default applied, the command limits whole and the rules decided (RegistrationService
 * fills them: kept, replaced or removed).
 */
export type PolicyChoice = Omit<z.output<typeof PolicyInput>, 'commandLimits' | 'rules'> & { commandLimits: CommandLimits; rules: PolicyRules | null };

/**
 * Parsed again on the way out: the row is only as trustworthy as the data directory it sits in. Rules that no longer
 * parse fail the read (the agent gets no certificate), never dropped: dropping them would widen the policy.
 */
function rulesOf(text: string | null, did: string): PolicyRules | undefined {
  if (text === null) return undefined;
  let parsed: ReturnType<typeof PolicyRules.safeParse> | undefined;
  try {
    parsed = PolicyRules.safeParse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (parsed?.success) return parsed.data;
  throw new Error(`the stored rules of agent ${did} do not parse; refusing to certify its policy without them`);
}

/** The policy an admin set for each agent; its version grows with every change. */
export class PolicyStore {
  readonly #get;
  readonly #upsert;
  /** Policies read at every handshake and dispatch; set() is the only writer and drops the entry. */
  readonly #cache = new Map<string, StoredPolicy>();

  constructor(db: BrokerDatabase) {
    this.#get = db.prepare<[string], PolicyRow>('SELECT * FROM policies WHERE agent_did = ?');
    this.#upsert = db.prepare(
      `INSERT INTO policies (agent_did, version, capabilities, approval_required, max_tokens_per_day, max_requests_per_hour, policy_expires_at, updated_at,
         allowed_domains, cpu_seconds, memory_bytes, processes, file_bytes, workspace_write_bytes, rules)
       VALUES (@did, 1, @capabilities, @approval, @tokens, @requests, @expires, @now, @domains, @cpu, @memory, @processes, @file, @writes, @rules)
       ON CONFLICT(agent_did) DO UPDATE SET version = version + 1, capabilities = @capabilities, approval_required = @approval,
         max_tokens_per_day = @tokens, max_requests_per_hour = @requests, policy_expires_at = @expires, updated_at = @now,
         allowed_domains = @domains, cpu_seconds = @cpu, memory_bytes = @memory, processes = @processes, file_bytes = @file,
         workspace_write_bytes = @writes, rules = @rules`,
    );
  }

  get(did: string): StoredPolicy | undefined {
    const policy = this.#cache.get(did) ?? this.#read(did);
    if (policy) this.#cache.set(did, policy);
    return policy;
  }

  #read(did: string): StoredPolicy | undefined {
    const row = this.#get.get(did);
    if (!row) return undefined;
    const policy: StoredPolicy = {
      policyId: `policy:${row.agent_did}`,
      policyVersion: row.version,
      capabilities: JSON.parse(row.capabilities) as Capability[],
      approvalRequired: JSON.parse(row.approval_required) as Capability[],
      maxTokensPerDay: row.max_tokens_per_day,
      maxRequestsPerHour: row.max_requests_per_hour,
      policyExpiresAt: row.policy_expires_at,
      allowedDomains: JSON.parse(row.allowed_domains) as string[],
      // NULL: set before the upgrade, when commands ran with no limit; certified as the widest the wire allows.
      commandLimits: {
        cpuSeconds: row.cpu_seconds ?? MAX_COMMAND_LIMITS.cpuSeconds,
        memoryBytes: row.memory_bytes ?? MAX_COMMAND_LIMITS.memoryBytes,
        processes: row.processes ?? MAX_COMMAND_LIMITS.processes,
        fileBytes: row.file_bytes ?? MAX_COMMAND_LIMITS.fileBytes,
        workspaceWriteBytes: row.workspace_write_bytes ?? MAX_COMMAND_LIMITS.workspaceWriteBytes,
      },
    };
    // Absent, not undefined, when there are none: a certificate without rules is byte for byte what it was before them.
    const rules = rulesOf(row.rules, row.agent_did);
    return rules ? { ...policy, rules } : policy;
  }

  set(did: string, input: PolicyChoice, now: number): StoredPolicy {
    // Dropped, not refilled: the caller's transaction may still roll this write back.
    this.#cache.delete(did);
    const limits = input.commandLimits;
    this.#upsert.run({
      did,
      capabilities: JSON.stringify([...new Set(input.capabilities)]),
      approval: JSON.stringify([...new Set(input.approvalRequired)]),
      tokens: input.maxTokensPerDay,
      requests: input.maxRequestsPerHour,
      expires: now + input.validForMs,
      now,
      domains: JSON.stringify([...new Set(input.allowedDomains)]),
      cpu: limits.cpuSeconds,
      memory: limits.memoryBytes,
      processes: limits.processes,
      file: limits.fileBytes,
      writes: limits.workspaceWriteBytes,
      rules: input.rules === null ? null : JSON.stringify(input.rules),
    });
    return this.#read(did)!;
  }
}
