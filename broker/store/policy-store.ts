import type { Transaction } from 'kysely';
import type { z } from 'zod';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import type { PolicyInput } from '../../core/rpc/views';
import type { Capability, CertifiedPolicy, CommandLimits } from '../../core/wire/policy';
import { PolicyRules } from '../../core/wire/policy-rules';
import { RowCache } from './row-cache';
import type { Storage } from './sql/storage';
import type { BrokerTables, PoliciesTable } from './sql/tables';

type PolicyRow = Omit<PoliciesTable, 'allowed_domains'> & { allowed_domains: string };
type Querier = Storage['db'] | Transaction<BrokerTables>;

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

function toPolicy(row: PolicyRow): StoredPolicy {
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

/** Every column a change writes (all but the key and the version, which each write sets its own way). */
function columns(input: PolicyChoice, now: number) {
  const limits = input.commandLimits;
  return {
    capabilities: JSON.stringify([...new Set(input.capabilities)]),
    approval_required: JSON.stringify([...new Set(input.approvalRequired)]),
    max_tokens_per_day: input.maxTokensPerDay,
    max_requests_per_hour: input.maxRequestsPerHour,
    policy_expires_at: now + input.validForMs,
    updated_at: now,
    allowed_domains: JSON.stringify([...new Set(input.allowedDomains)]),
    cpu_seconds: limits.cpuSeconds,
    memory_bytes: limits.memoryBytes,
    processes: limits.processes,
    file_bytes: limits.fileBytes,
    workspace_write_bytes: limits.workspaceWriteBytes,
    rules: input.rules === null ? null : JSON.stringify(input.rules),
  };
}

/** The policy an admin set for each agent; its version grows with every change. */
export class PolicyStore {
  /** Policies read at every handshake and dispatch; every write below goes through it. */
  readonly #cache: RowCache<StoredPolicy>;

  constructor(private readonly storage: Storage) {
    this.#cache = new RowCache(storage);
  }

  async get(did: string): Promise<StoredPolicy | undefined> {
    return this.#cache.read(did, () => this.#read(this.storage.db, did));
  }

  async #read(db: Querier, did: string): Promise<StoredPolicy | undefined> {
    const row = await db.selectFrom('policies').selectAll().where('agent_did', '=', did).executeTakeFirst();
    return row && toPolicy(row);
  }

  async set(did: string, input: PolicyChoice, now: number): Promise<StoredPolicy> {
    return this.#cache.write(did, () => this.storage.transaction((trx) => this.setIn(trx, did, input, now)));
  }

  /**
   * Replaces the policy at version `expected` (the one the caller read and built on); undefined, nothing written, if
   * another change came first: two admins editing one policy at once cannot silently drop one's change.
   */
  async replace(did: string, input: PolicyChoice, now: number, expected: number): Promise<StoredPolicy | undefined> {
    return this.#cache.write(did, () =>
      this.storage.transaction(async (trx) => {
        // The version in the WHERE is the check, in the one statement that writes: of two changes made from one
        // version, one is written (no lost update), on PostgreSQL's READ COMMITTED too (the second waits for the
        // first's row lock, then finds the version moved on and changes nothing).
        const { numUpdatedRows } = await trx
          .updateTable('policies')
          .set((eb) => ({ ...columns(input, now), version: eb('version', '+', 1) }))
          .where('agent_did', '=', did)
          .where('version', '=', expected)
          .executeTakeFirst();
        return numUpdatedRows === 1n ? this.#read(trx, did) : undefined;
      }),
    );
  }

  /**
   * set() as part of a transaction another store runs (AgentRegistry.decidePending), through its `trx`. The caller
   * runs that transaction inside `writing(did, …)`, so no policy read while it is open stays cached after it.
   */
  async setIn(trx: Transaction<BrokerTables>, did: string, input: PolicyChoice, now: number): Promise<StoredPolicy> {
    // Dropped here too, for a caller that did not run its transaction inside writing(): no entry from before it stays.
    this.#cache.forget([did]);
    const written = columns(input, now);
    await trx
      .insertInto('policies')
      .values({ agent_did: did, version: 1, ...written })
      .onConflict((oc) => oc.column('agent_did').doUpdateSet((eb) => ({ ...written, version: eb('policies.version', '+', 1) })))
      .execute();
    return (await this.#read(trx, did))!;
  }

  /** Runs `write` (a transaction that calls setIn for `did`) so that the policy cached for `did` follows it. */
  writing<T>(did: string, write: () => Promise<T>): Promise<T> {
    return this.#cache.write(did, write);
  }
}
