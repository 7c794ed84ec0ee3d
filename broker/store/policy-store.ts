import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import type { PolicyInput } from '../../core/rpc/views';
import type { Capability, CertifiedPolicy } from '../../core/wire/policy';
import type { BrokerDatabase } from './database';

interface PolicyRow {
  agent_did: string;
  version: number;
  capabilities: string;
  approval_required: string;
  max_tokens_per_day: number;
  max_requests_per_hour: number;
  policy_expires_at: number;
}

export type StoredPolicy = Omit<CertifiedPolicy, 'status' | 'approvalTimeoutMs'>;

/** The policy an admin set for each agent; its version grows with every change. */
export class PolicyStore {
  readonly #get;
  readonly #upsert;
  /** Policies read at every handshake and dispatch; set() is the only writer and drops the entry. */
  readonly #cache = new Map<string, StoredPolicy>();

  constructor(db: BrokerDatabase) {
    this.#get = db.prepare<[string], PolicyRow>('SELECT * FROM policies WHERE agent_did = ?');
    this.#upsert = db.prepare(
      `INSERT INTO policies (agent_did, version, capabilities, approval_required, max_tokens_per_day, max_requests_per_hour, policy_expires_at, updated_at)
       VALUES (@did, 1, @capabilities, @approval, @tokens, @requests, @expires, @now)
       ON CONFLICT(agent_did) DO UPDATE SET version = version + 1, capabilities = @capabilities, approval_required = @approval,
         max_tokens_per_day = @tokens, max_requests_per_hour = @requests, policy_expires_at = @expires, updated_at = @now`,
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
    return {
      policyId: `policy:${row.agent_did}`,
      policyVersion: row.version,
      capabilities: JSON.parse(row.capabilities) as Capability[],
      approvalRequired: JSON.parse(row.approval_required) as Capability[],
      maxTokensPerDay: row.max_tokens_per_day,
      maxRequestsPerHour: row.max_requests_per_hour,
      policyExpiresAt: row.policy_expires_at,
      allowedDomains: [],
      commandLimits: MAX_COMMAND_LIMITS,
    };
  }

  set(did: string, input: Required<PolicyInput>, now: number): StoredPolicy {
    // Dropped, not refilled: the caller's transaction may still roll this write back.
    this.#cache.delete(did);
    this.#upsert.run({
      did,
      capabilities: JSON.stringify([...new Set(input.capabilities)]),
      approval: JSON.stringify([...new Set(input.approvalRequired)]),
      tokens: input.maxTokensPerDay,
      requests: input.maxRequestsPerHour,
      expires: now + input.validForMs,
      now,
    });
    return this.#read(did)!;
  }
}
