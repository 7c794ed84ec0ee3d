import type pino from 'pino';
import { CloseCode } from '../../core/wire/close-codes';
import type { AgentView, ApprovalView, PolicyInput } from '../../core/rpc/views';
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
import { rulesProblemText } from '../../core/rpc/rules-problem';
import { INTENT_ORIGIN_SINCE, POLICY_RULES_SINCE, readsIntentOrigin, readsPolicyRules } from '../../core/wire/hub-messages';
import { checkPolicyRules, decideCall, describeRule, exactAllowRule, modelOnlyRule } from '../../core/policy/rules';
import type { AnyRule, PolicyRules } from '../../core/wire/policy-rules';
import { parseIntentCall } from '../../core/wire/task';


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

  async approve(actor: string, did: string, input: PolicyInput, widen: boolean): Promise<AgentView> {
    const record = await this.registry.get(did);
    if (!record) throw notFound(`agent ${did}`);
    if (record.status !== 'pending') throw conflict(`agent ${did} is ${record.status}, not pending`);
    const policy = this.#checkedPolicy(did, record.requested, input, widen, { commandLimits: MAX_COMMAND_LIMITS, rules: null });
    // Checked again where it is written: of two admins deciding at once, exactly one decision is kept.
    if (!(await this.registry.decidePending(did, { status: 'approved', policies: this.policies, policy, now: this.now() }))) {
      throw conflict(`agent ${did} was decided meanwhile; it is no longer pending`);
    }
    audit(this.log).info('registration.approved', { actor, did, policy }, 'agent registration approved');
    return this.#changed(did, 'registrationChanged');
  }

  async reject(actor: string, did: string, reason: string): Promise<AgentView> {
    const record = await this.registry.get(did);
    if (!record) throw notFound(`agent ${did}`);
    if (record.status !== 'pending') throw conflict(`agent ${did} is ${record.status}, not pending`);
    if (!(await this.registry.decidePending(did, { status: 'rejected', reason }))) throw conflict(`agent ${did} was decided meanwhile; it is no longer pending`);
    audit(this.log).info('registration.rejected', { actor, did, reason }, 'agent registration rejected');
    this.online.get(did)?.close(CloseCode.RegistrationEnded, 'registration rejected');
    return this.#changed(did, 'registrationChanged');
  }

  async revoke(actor: string, did: string, reason: string): Promise<AgentView> {
    const record = await this.registry.get(did);
    if (!record) throw notFound(`agent ${did}`);
    if (record.status === 'revoked' || record.status === 'rejected') throw conflict(`agent ${did} is already ${record.status}`);
    if (!(await this.registry.revoke(did, reason))) throw conflict(`agent ${did} was revoked or rejected meanwhile`);
    audit(this.log).info('agent.revoked', { actor, did, reason }, 'agent revoked');
    this.online.get(did)?.close(CloseCode.RegistrationEnded, 'agent revoked');
    return this.#changed(did, 'agentChanged');
  }

  /**
   * Takes a revoked or rejected agent out of the lists (the audit log keeps its whole story). An approved or pending
   * one is refused: it could still run or be approved, and hiding it would hide that from every admin.
   */
  async remove(actor: string, did: string): Promise<AgentView> {
    const record = await this.registry.get(did);
    if (!record) throw notFound(`agent ${did}`);
    if (record.status !== 'revoked' && record.status !== 'rejected') {
      throw conflict(`${record.name} is ${record.status}: only a revoked or rejected agent can be removed (revoke${record.status === 'pending' ? ' or reject' : ''} it first)`);
    }
    if (record.removedAt !== null) throw conflict(`${record.name} was already removed`);
    if (!(await this.registry.hide(did, this.now()))) throw conflict(`${record.name} changed while being removed; try again`);
    audit(this.log).info('agent.removed', { actor, did, name: record.name, status: record.status }, 'agent removed from the lists');
    return this.#changed(did, 'agentChanged');
  }

  async setPolicy(actor: string, did: string, input: PolicyInput, widen: boolean): Promise<AgentView> {
    const record = await this.registry.get(did);
    if (!record) throw notFound(`agent ${did}`);
    if (record.status !== 'approved') throw conflict(`agent ${did} is ${record.status}; approve it first`);
    const current = await this.policies.get(did);
    const policy = this.#checkedPolicy(did, record.requested, input, widen, {
      commandLimits: current?.commandLimits ?? MAX_COMMAND_LIMITS,
      rules: current?.rules ?? null,
    });
    // Written only over the version read above: a change made meanwhile is not silently undone by this one.
    const stored = current ? await this.policies.replace(did, policy, this.now(), current.policyVersion) : await this.policies.set(did, policy, this.now());
    if (!stored) throw conflict(`the policy of agent ${did} changed meanwhile (now past v${current!.policyVersion}); read it again and retry`);
    audit(this.log).info('policy.updated', { actor, did, policy, policyVersion: stored.policyVersion }, 'agent policy updated');
    return this.#changed(did, 'agentChanged');
  }

  /**
   * "Approve and allow this from now on": the narrowest allow rule for exactly the call of `request`, first in its
   * capability's rules, re-issued through the path of setPolicy (a new version, update_capabilities). A capability
   * without rules gets an entry whose default is what it meant before (ask when approvalRequired names it), so no
   * other call changes meaning. Everything else of the policy stays as it is, its expiry included.
   */
  async allowCall(actor: string, request: ApprovalView): Promise<{ agent: AgentView; rule: string }> {
    const parsed = parseIntentCall(request);
    if (!parsed.ok) throw invalid(`the call of approval request ${request.requestId} does not parse: ${parsed.message}`);
    const exact = exactAllowRule(parsed.call);
    if (!exact) throw invalid(`the call of approval request ${request.requestId} cannot be named exactly (a command given as a relative path): add a rule by hand`);
    const current = await this.policies.get(request.agent);
    if (!current) throw conflict(`agent ${request.agent} has no policy`);
    // An allow rule first in the list would come before a deny: a call the rules refuse stays refused.
    const decision = decideCall(current, parsed.call, request.modelCall ? 'model' : 'person');
    if (decision.effect === 'deny') throw conflict(`the policy denies this call (${decision.description}); an allow rule is not added over a deny`);
    const capability = exact.capability as keyof PolicyRules;
    const entry = current.rules?.[capability] ?? { default: current.approvalRequired.includes(exact.capability) ? ('ask' as const) : ('allow' as const), rules: [] };
    const rules = { ...current.rules, [capability]: { ...entry, rules: [exact.rule, ...entry.rules] as AnyRule[] } } as PolicyRules;
    const remaining = current.policyExpiresAt - this.now();
    if (!(remaining > 0)) throw conflict(`the policy of agent ${request.agent} has expired; set a new one first`);
    const input: PolicyInput = {
      capabilities: current.capabilities,
      approvalRequired: current.approvalRequired,
      maxTokensPerDay: current.maxTokensPerDay,
      maxRequestsPerHour: current.maxRequestsPerHour,
      validForMs: remaining,
      allowedDomains: current.allowedDomains,
      commandLimits: current.commandLimits,
      rules,
    };
    // The capabilities are the current ones, granted before: nothing here widens them.
    const agent = await this.setPolicy(actor, request.agent, input, true);
    const rule = describeRule(exact.capability, exact.rule);
    audit(this.log).info(
      'policy.rule-added',
      { actor, did: request.agent, requestId: request.requestId, capability: exact.capability, rule, policyVersion: agent.policy!.policyVersion },
      'allow rule added from an approval request',
    );
    return { agent, rule };
  }

  /**
   * At most what the agent asked for, unless the admin widens it explicitly. Limits left out keep the agent's
   * current ones (the widest at approval), and rules left out its current rules (none at approval): changing one
   * field never silently widens another. Rules are checked with their examples against the capabilities granted.
   */
  #checkedPolicy(did: string, requested: string[], input: PolicyInput, widen: boolean, current: Pick<PolicyChoice, 'commandLimits' | 'rules'>): PolicyChoice {
    const parsed = PolicyInputSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw invalid(`policy.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
    }
    const policy: PolicyChoice = {
      ...parsed.data,
      commandLimits: { ...current.commandLimits, ...parsed.data.commandLimits },
      rules: parsed.data.rules === undefined ? current.rules : parsed.data.rules,
    };
    const beyond = policy.capabilities.filter((c) => !requested.includes(c));
    if (beyond.length && !widen) {
      throw invalid(`the agent did not ask for ${beyond.join(', ')}; pass widen to grant more than it asked for`);
    }
    const unknownApproval = policy.approvalRequired.filter((c) => !policy.capabilities.includes(c));
    if (unknownApproval.length) throw invalid(`approvalRequired names capabilities not granted: ${unknownApproval.join(', ')}`);
    const problem = policy.rules ? checkPolicyRules(policy.rules) : undefined;
    if (problem) throw invalid(rulesProblemText(problem));
    // An agent before 0.4.0 refuses a certificate with rules (its schema is strict): it would fail closed, unable to
    // connect, which the admin should hear now rather than find as an agent gone offline. An offline agent is not
    // known: its next handshake fails the same way and the agent says why in its log.
    const version = this.online.get(did)?.agentVersion;
    if (policy.rules && version !== undefined && !readsPolicyRules(version)) {
      throw invalid(`agent ${did} runs ${version}, which cannot read rules in its certificate (it would refuse its next handshake); upgrade it to ${POLICY_RULES_SINCE.join('.')} or later first`);
    }
    // The same for a rule that speaks only for a model's calls (issue 18): an agent before 0.5.0 cannot read chosenBy.
    const modelOnly = policy.rules ? modelOnlyRule(policy.rules) : undefined;
    if (modelOnly && version !== undefined && !readsIntentOrigin(version)) {
      throw invalid(
        `agent ${did} runs ${version}, which cannot read chosenBy in its certificate (${modelOnly}; it would refuse its next handshake); upgrade it to ${INTENT_ORIGIN_SINCE.join('.')} or later first, or leave out chosenBy`,
      );
    }
    return policy;
  }

  /**
   * Notifies clients and, for a connected agent, sends update_capabilities: it
   * answers with a fresh handshake, and only the new certificate changes what it may do.
   */
  async #changed(did: string, event: 'agentChanged' | 'registrationChanged'): Promise<AgentView> {
    const view = (await this.directory.get(did))!;
    const connection = this.online.get(did);
    if (connection && view.status === 'approved' && view.policy) {
      connection.send({ type: 'update_capabilities', policyVersion: view.policy.policyVersion });
    }
    this.events.emit(event, view);
    return view;
  }
}
