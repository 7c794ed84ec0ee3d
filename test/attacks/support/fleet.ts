import assert from 'node:assert/strict';
import { IdType, SecretIdentity } from '../../../core/identity';
import type { MethodName, ParamsOf, ResultOf } from '../../../core/rpc/methods';
import { BUDGETS } from '../../../core/budgets';
import { allPages } from '../../../core/rpc/pages';
import type { IntentSummary, IntentView, PolicyInput } from '../../../core/rpc/views';
import type { BrokerClient } from '../../../broker/cli/broker-client';
import type { Capability } from '../../../core/wire/policy';
import { removeDirs, startAgent, startBroker, waitFor, type AgentProcess, type BrokerProcess } from '../../support/processes';
import { exitIfHeldOpen } from '../../support/started';

// Every file that starts a fleet: its teardown (agents, then the broker, each bounded by 10 s) fits in 40 s.
exitIfHeldOpen(40_000);
import { RogueAgent, type Handshake, type HubSocket } from './rogue-agent';

/** Any promise, bounded in time (RPC calls have no timeout of their own). */
export async function bounded<T>(what: string, promise: Promise<T>, timeoutMs = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every intent the broker lists (of one agent, if given), page after page, each page bounded in time. */
export function allIntents(client: BrokerClient, agent?: string): Promise<IntentSummary[]> {
  return allPages((cursor) => bounded('intentsList', client.call('intentsList', { agent, limit: BUDGETS.listPageItems.limit, cursor })));
}

/** Bounded wait for an intent to leave sent/running. */
export async function finalIntent(broker: BrokerProcess, id: string, timeoutMs = 10_000): Promise<IntentView> {
  return waitFor(
    `intent ${id} to finish`,
    async () => {
      const view = await bounded('intentsGet', broker.client.call('intentsGet', { id }));
      return view.state !== 'sent' && view.state !== 'running' ? view : undefined;
    },
    timeoutMs,
  );
}

/** Waits until a started agent is online and pending, then approves it and waits for its renewed certificate. */
export async function approve(broker: BrokerProcess, agent: AgentProcess, capabilities: Capability[] = ['read_file', 'list_files']): Promise<void> {
  await waitFor(`${agent.did} pending and online`, async () =>
    (await bounded('registrationsList', broker.client.call('registrationsList', {}))).items.find((x) => x.did === agent.did && x.online),
  );
  await bounded('registrationsApprove', broker.client.call('registrationsApprove', { did: agent.did, policy: { capabilities } }));
  await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
}

export function assertAlive(p: { child: { exitCode: number | null; signalCode: NodeJS.Signals | null } }, what = 'broker'): void {
  assert.equal(p.child.exitCode, null, `${what} exited`);
  assert.equal(p.child.signalCode, null, `${what} was killed`);
}

/** A broker plus one honest agent, approved for list_files: the "still working" probe after every attack. */
export class Fleet {
  readonly dirs: string[] = [];
  readonly agents: AgentProcess[] = [];
  constructor(
    readonly broker: BrokerProcess,
    readonly honest: AgentProcess,
  ) {}

  static start(brokerArgs: string[] = []): Promise<Fleet> {
    return bounded('a broker and an approved honest agent', Fleet.#start(brokerArgs), 30_000);
  }

  static async #start(brokerArgs: string[]): Promise<Fleet> {
    const broker = await startBroker({ args: brokerArgs });
    const honest = await startAgent({ brokerUrl: broker.url, brokerDid: broker.did, name: 'honest', request: 'read_file,list_files' });
    const fleet = new Fleet(broker, honest);
    fleet.track(honest);
    await approve(broker, honest);
    return fleet;
  }

  /** A JSON-RPC call as the broker's owner, bounded in time. */
  call<M extends MethodName>(name: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    return bounded(name, this.broker.client.call(name, params));
  }

  /** A rogue agent that authenticates, gets approved with `policy`, and renews its certificate on update_capabilities like an honest agent. */
  async approvedRogue(name: string, policy: PolicyInput = { capabilities: ['list_files'] }): Promise<{ rogue: RogueAgent; hub: HubSocket; handshake: Handshake }> {
    const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), this.broker.url, this.broker.did, {
      name,
      requested: policy.capabilities,
      agentVersion: '0.0.0-rogue',
    });
    const { hub } = await rogue.authenticate();
    await this.call('registrationsApprove', { did: rogue.did, policy });
    await hub.next('update_capabilities');
    const renewed = await rogue.authenticate(hub);
    assert.equal(renewed.status, 'approved');
    assert.deepEqual(renewed.handshake.policy.capabilities, policy.capabilities);
    return { rogue, hub, handshake: renewed.handshake };
  }

  track(agent: AgentProcess): AgentProcess {
    this.agents.push(agent);
    this.dirs.push(agent.stateDir, agent.workspace);
    return agent;
  }

  /** The broker process is alive and an honest agent still gets an intent run end to end. */
  async assertHealthy(): Promise<void> {
    assertAlive(this.broker);
    assertAlive(this.honest, 'honest agent');
    const sent = await bounded(
      'intentsDispatch',
      this.broker.client.call('intentsDispatch', { agent: this.honest.did, capability: 'list_files', params: { path: '.' } }),
    );
    assert.equal(sent.state, 'sent', `honest intent refused: ${sent.reason} ${sent.message}`);
    const done = await finalIntent(this.broker, sent.id);
    assert.equal(done.state, 'succeeded', `honest intent ended ${done.state} ${done.reason}`);
  }

  async stop(): Promise<void> {
    for (const agent of this.agents) await agent.kill().catch(() => undefined);
    await this.broker.stop().catch(() => this.broker.kill());
    removeDirs(this.broker.dataDir, ...this.dirs);
  }
}
