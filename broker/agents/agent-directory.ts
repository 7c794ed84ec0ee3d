import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import type { Page, PageRequest } from '../../core/rpc/pages';
import type { AgentView } from '../../core/rpc/views';
import type { RegistrationStatus } from '../../core/wire/policy';
import type { CertifiedPolicy } from '../../core/wire/policy';
import { HOUR_MS } from '../../core/policy/intent-gates';
import type { AgentRecord, AgentRegistry } from '../store/agent-registry';
import type { IntentStore } from '../store/intent-store';
import type { PolicyStore } from '../store/policy-store';
import type { TokenUsageStore } from '../store/token-usage-store';
import { utcDay } from '../../core/policy/utc-day';
import type { OnlineAgents } from './online-agents';
import type { BrokerContext } from '../broker-context';

/** What AgentDirectory works with, handed over by Broker as one object. */
export interface AgentDirectoryContext extends Pick<BrokerContext, 'online' | 'now'> {
  registry: AgentRegistry;
  policies: PolicyStore;
  intents: IntentStore;
  tokens: TokenUsageStore;
  /** One approval timeout for the whole broker, carried in every certificate. */
  approvalTimeoutMs: number;
}

/** Reads agents as clients see them, and composes the policy the broker certifies for each. */
export class AgentDirectory {
  private readonly registry: AgentRegistry;
  private readonly policies: PolicyStore;
  private readonly intents: IntentStore;
  private readonly tokens: TokenUsageStore;
  private readonly online: OnlineAgents;
  private readonly now: () => number;
  private readonly approvalTimeoutMs: number;

  constructor(c: AgentDirectoryContext) {
    ({
      registry: this.registry,
      policies: this.policies,
      intents: this.intents,
      tokens: this.tokens,
      online: this.online,
      now: this.now,
      approvalTimeoutMs: this.approvalTimeoutMs,
    } = c);
  }

  /**
   * The policy for the next certificate. An agent that is not approved is
   * certified with nothing (no capability, zero limits): it may hold a
   * connection, but runs no tool.
   */
  async certifiedPolicy(did: string, status: RegistrationStatus): Promise<CertifiedPolicy> {
    const stored = status === 'approved' ? await this.policies.get(did) : undefined;
    if (!stored) {
      return {
        status,
        policyId: `none:${did}`,
        policyVersion: 0,
        capabilities: [],
        approvalRequired: [],
        maxTokensPerDay: 0,
        maxRequestsPerHour: 0,
        policyExpiresAt: 0,
        approvalTimeoutMs: this.approvalTimeoutMs,
        allowedDomains: [],
        commandLimits: MAX_COMMAND_LIMITS,
      };
    }
    return { status, ...stored, approvalTimeoutMs: this.approvalTimeoutMs };
  }

  async view(record: AgentRecord): Promise<AgentView> {
    const now = this.now();
    const policy = record.status === 'approved' ? await this.certifiedPolicy(record.did, record.status) : null;
    const usage = { requestsLastHour: await this.intents.sentSince(record.did, now - HOUR_MS), tokensToday: await this.tokensToday(record.did, now) };
    return {
      did: record.did,
      name: record.name,
      status: record.status,
      statusReason: record.statusReason,
      requested: record.requested,
      online: this.online.isOnlineAnywhere(record.did),
      policy,
      confinement: record.confinement,
      usage,
      firstSeen: record.firstSeen,
      lastSeen: record.lastSeen,
      id: record.idBase64,
      ...(record.removedAt !== null ? { removed: true as const } : {}),
    };
  }

  /** The tokens the agent's signed task reports add up to on the UTC day of `now`. */
  async tokensToday(did: string, now: number): Promise<number> {
    return this.tokens.usedOn(did, utcDay(now));
  }

  async get(did: string): Promise<AgentView | undefined> {
    const record = await this.registry.get(did);
    return record ? this.view(record) : undefined;
  }

  /** One page of agents (of one registration status, if given). */
  async page(status: RegistrationStatus | undefined, page: PageRequest): Promise<Page<AgentView>> {
    return this.registry.page(status, page, (r) => this.view(r));
  }
}
