import type pino from 'pino';
import { CloseCode } from '../../core/wire/close-codes';
import type { AgentView, PolicyInput } from '../../core/rpc/views';
import { PolicyInput as PolicyInputSchema } from '../../core/rpc/views';
import type { BrokerEventBus } from '../events';
import { conflict, invalid, notFound } from '../rpc/rpc-failure';
import type { AgentRegistry } from '../store/agent-registry';
import type { PolicyChoice, PolicyStore } from '../store/policy-store';
import { MAX_COMMAND_LIMITS } from '../../core/policy/command-limits';
import type { AgentDirectory } from './agent-directory';
import type { OnlineAgents } from './online-agents';
import { audit } from '../audit/audit-log';
import type { BrokerContext } from '../broker-context';


/** What RegistrationService works with, handed over by Broker as one object. */
export interface RegistrationServiceContext extends Pick<BrokerContext, 'online' | 'events' | 'log' | 'now'> {
  registry: AgentRegistry;
  policies: PolicyStore;
  directory: AgentDirectory;
}

/** Registration decisions and policy changes, each audited, persisted and pushed to a connected agent. */
export class RegistrationService {
  private readonly registry: AgentRegistry;
  private readonly policies: PolicyStore;
  private readonly directory: AgentDirectory;
  private readonly online: OnlineAgents;
  private readonly events: BrokerEventBus;
  private readonly log: pino.Logger;
  private readonly now: () => number;

  constructor(c: RegistrationServiceContext) {
    ({
      registry: this.registry,
      policies: this.policies,
      directory: this.directory,
      online: this.online,
      events: this.events,
      log: this.log,
      now: this.now,
    } = c);
  }

  approve(actor: string, did: string, input: PolicyInput, widen: boolean): AgentView {
    const record = this.registry.get(did);
    if (!record) throw notFound(`agent ${did}`);
    if (record.status !== 'pending') throw conflict(`agent ${did} is ${record.status}, not pending`);
    const policy = this.#checkedPolicy(record.requested, input, widen, MAX_COMMAND_LIMITS);
    this.registry.transaction(() => {
      this.policies.set(did, policy, this.now());
      this.registry.setStatus(did, 'approved', null);
    });
    audit(this.log).info('registration.approved', { actor, did, policy }, 'agent registration approved');
    return this.#changed(did, 'registrationChanged');
  }

  reject(actor: string, did: string, reason: string): AgentView {
    const record = this.registry.get(did);
    if (!record) throw notFound(`agent ${did}`);
    if (record.status !== 'pending') throw conflict(`agent ${did} is ${record.status}, not pending`);
    this.registry.setStatus(did, 'rejected', reason);
    audit(this.log).info('registration.rejected', { actor, did, reason }, 'agent registration rejected');
    this.online.get(did)?.close(CloseCode.RegistrationEnded, 'registration rejected');
    return this.#changed(did, 'registrationChanged');
  }

  revoke(actor: string, did: string, reason: string): AgentView {
    const record = this.registry.get(did);
    if (!record) throw notFound(`agent ${did}`);
    if (record.status === 'revoked' || record.status === 'rejected') throw conflict(`agent ${did} is already ${record.status}`);
    this.registry.setStatus(did, 'revoked', reason);
    audit(this.log).info('agent.revoked', { actor, did, reason }, 'agent revoked');
    this.online.get(did)?.close(CloseCode.RegistrationEnded, 'agent revoked');
    return this.#changed(did, 'agentChanged');
  }

  setPolicy(actor: string, did: string, input: PolicyInput, widen: boolean): AgentView {
    const record = this.registry.get(did);
    if (!record) throw notFound(`agent ${did}`);
    if (record.status !== 'approved') throw conflict(`agent ${did} is ${record.status}; approve it first`);
    const current = this.policies.get(did)?.commandLimits ?? MAX_COMMAND_LIMITS;
    const policy = this.#checkedPolicy(record.requested, input, widen, current);
    const stored = this.policies.set(did, policy, this.now());
    audit(this.log).info('policy.updated', { actor, did, policy, policyVersion: stored.policyVersion }, 'agent policy updated');
    return this.#changed(did, 'agentChanged');
  }

  /**
   * At most what the agent asked for, unless the admin widens it explicitly. Limits left out keep `limits`
   * (the agent's current ones, or the widest at approval): changing one field never silently widens another.
   */
  #checkedPolicy(requested: string[], input: PolicyInput, widen: boolean, limits: PolicyChoice['commandLimits']): PolicyChoice {
    const parsed = PolicyInputSchema.parse(input);
    const policy: PolicyChoice = { ...parsed, commandLimits: { ...limits, ...parsed.commandLimits } };
    const beyond = policy.capabilities.filter((c) => !requested.includes(c));
    if (beyond.length && !widen) {
      throw invalid(`the agent did not ask for ${beyond.join(', ')}; pass widen to grant more than it asked for`);
    }
    const unknownApproval = policy.approvalRequired.filter((c) => !policy.capabilities.includes(c));
    if (unknownApproval.length) throw invalid(`approvalRequired names capabilities not granted: ${unknownApproval.join(', ')}`);
    return policy;
  }

  /**
   * Notifies clients and, for a connected agent, sends update_capabilities: it
   * answers with a fresh handshake, and only the new certificate changes what it may do.
   */
  #changed(did: string, event: 'agentChanged' | 'registrationChanged'): AgentView {
    const view = this.directory.get(did)!;
    const connection = this.online.get(did);
    if (connection && view.status === 'approved' && view.policy) {
      connection.send({ type: 'update_capabilities', policyVersion: view.policy.policyVersion });
    }
    this.events.emit(event, view);
    return view;
  }
}
