import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMessageConnection, type MessageConnection } from 'vscode-jsonrpc/node';
import WebSocket from 'ws';
import { BrokerClient } from '../../../broker/cli/broker-client';
import { loadLocalOperator } from '../../../broker/local-operator';
import { IdType, seal, SecretIdentity } from '../../../core/identity';
import { RpcErrorCode, type MethodName, type ParamsOf, type ResultOf } from '../../../core/rpc/methods';
import type { Role } from '../../../core/rpc/roles';
import { rpcErrorReason, type RpcErrorReason } from '../../../core/rpc/rpc-error';
import type { ApprovalView, IntentDetail, IntentView } from '../../../core/rpc/views';
import { WebSocketMessageReader, WebSocketMessageWriter } from '../../../core/rpc/websocket-transport';
import type { ApprovalDecisionBody } from '../../../core/wire/approval';
import { MAX_HUB_FRAME_BYTES } from '../../../core/wire/hub-messages';
import type { AgentHello } from '../../../core/wire/policy';
import { FINAL_INTENT_STATES } from '../../../core/rpc/views';
import { waitFor, type AgentProcess, type BrokerProcess, type LogTail } from '../../support/processes';
import { bounded } from './fleet';
import { RogueAgent } from './rogue-agent';
import type { RunCommandOutput } from '../../../agent/tools';

/**
 * Users of a real broker for RBAC, delegation and approval attacks: the owner
 * is the broker host's local operator; every other member joins by invitation
 * over the hub's /rpc WebSocket with a person key of their own.
 */
export interface Member {
  role: Role;
  name: string;
  identity: SecretIdentity;
  client: BrokerClient;
  did: string;
}

export const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** One JSON-RPC call as `member`, bounded in time. */
export function call<M extends MethodName>(member: Member | BrokerClient, name: M, params: ParamsOf<M>, timeoutMs = 15_000): Promise<ResultOf<M>> {
  const client = member instanceof BrokerClient ? member : member.client;
  return bounded(`${name} as ${member instanceof BrokerClient ? 'client' : member.name}`, client.call(name, params), timeoutMs);
}

/** The owner: the local operator on the broker's socket (startBroker's client). */
export function ownerOf(broker: BrokerProcess): Member {
  const identity = loadLocalOperator(broker.dataDir);
  assert.equal(broker.client.user?.did, identity.did);
  assert.equal(broker.client.user?.role, 'owner');
  return { role: 'owner', name: 'owner', identity, client: broker.client, did: identity.did };
}

/** Connects `identity` to the broker's /rpc WebSocket (joining with `invitation` if given). */
export function connectAs(broker: BrokerProcess, identity: SecretIdentity, name: string, invitation?: string): Promise<BrokerClient> {
  return bounded(`${name} connects`, BrokerClient.connectRemote(broker.url, broker.did, identity, invitation ? { name, invitation } : { name }));
}

/** A handshake that should be refused: if it is not, the session is closed at once and its user returned (for the failure message). */
export async function connectAttempt(broker: BrokerProcess, identity: SecretIdentity, name: string, invitation?: string): Promise<unknown> {
  const client = await connectAs(broker, identity, name, invitation);
  client.close();
  return client.user;
}

/** A new member with a key of their own, invited by `inviter` with `role`. */
export async function joinAs(broker: BrokerProcess, inviter: Member, role: Role, name: string): Promise<Member> {
  const { token } = await call(inviter, 'invitationsCreate', { role });
  const identity = SecretIdentity.generate(IdType.Person);
  const client = await connectAs(broker, identity, name, token);
  assert.equal(client.user?.did, identity.did);
  assert.equal(client.user?.role, role, `${name} joined as ${client.user?.role}, invited as ${role}`);
  return { role, name, identity, client, did: identity.did };
}

export interface RpcErrorLike {
  code: number;
  message: string;
  /** data.reason: what a program branches on. */
  reason: RpcErrorReason | undefined;
}

/** The JSON-RPC error a call ends with; fails the test if it succeeds. */
export async function rpcError(promise: Promise<unknown>, what = 'the call'): Promise<RpcErrorLike> {
  let result: unknown;
  try {
    result = await promise;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    assert.equal(typeof e.code, 'number', `${what}: not a JSON-RPC error: ${String(err)}`);
    return { code: e.code as number, message: String(e.message), reason: rpcErrorReason(err) };
  }
  assert.fail(`${what} succeeded but must be refused; it returned ${JSON.stringify(result).slice(0, 300)}`);
}

const codeName = (code: number) => Object.entries(RpcErrorCode).find(([, c]) => c === code)?.[0] ?? String(code);

/** Expects exactly the JSON-RPC error `code`, with a message matching `pattern`. */
export async function expectRpcError(promise: Promise<unknown>, code: number, pattern: RegExp, what = 'the call'): Promise<RpcErrorLike> {
  const error = await rpcError(promise, what);
  assert.equal(codeName(error.code), codeName(code), `${what}: expected ${codeName(code)} (${code}), got ${error.code} ${error.message}`);
  assert.match(error.message, pattern, what);
  return error;
}

/** A decision body signed by `signer` (ctx vaultysclaw/approval-decision/v1), as approvalsDecide params. */
export function decisionParams(
  signer: SecretIdentity,
  approval: Pick<ApprovalView, 'requestId' | 'intentId' | 'agent'>,
  decision: 'approve' | 'reject',
  overrides: Partial<ApprovalDecisionBody> = {},
): { payload: string; signature: string } {
  const body: ApprovalDecisionBody = {
    requestId: approval.requestId,
    intentId: approval.intentId,
    agent: approval.agent,
    decision,
    reason: null,
    reviewer: signer.did,
    decidedAt: Date.now(),
    ...overrides,
  };
  const envelope = seal(signer, 'vaultysclaw/approval-decision/v1', body);
  return { payload: b64(envelope.payload), signature: b64(envelope.signature) };
}

/** Bounded wait for the pending approval request of intent `intentId`. */
export function pendingApproval(viewer: Member | BrokerClient, intentId: string, timeoutMs = 10_000): Promise<ApprovalView> {
  return waitFor(
    `a pending approval for intent ${intentId}`,
    async () => (await call(viewer, 'approvalsList', { state: 'pending' })).items.find((a) => a.intentId === intentId),
    timeoutMs,
  );
}

/** Bounded wait for an intent to reach a final state (read as `viewer`). */
export function finalIntent(viewer: Member | BrokerClient, id: string, timeoutMs = 10_000): Promise<IntentView> {
  return waitFor(
    `intent ${id} to reach a final state`,
    async () => {
      const view = await call(viewer, 'intentsGet', { id });
      return FINAL_INTENT_STATES.includes(view.state) ? view : undefined;
    },
    timeoutMs,
  );
}

/** Dispatches as `member` and waits for the final state; returns the intent's detail (with its envelopes). */
export async function runAs(member: Member, agent: string, capability: IntentView['capability'], params: Record<string, unknown>, timeoutMs?: number): Promise<IntentView> {
  const sent = await call(member, 'intentsDispatch', { agent, capability, params });
  return finalIntent(member, sent.id, timeoutMs);
}

/** Asserts a broker-side refusal: rejected before signing, never sent. */
/** Runs an approved run_command (cwd the workspace root, 30 s) that must succeed, and gives its output. */
export async function commandOutput(member: Member, agent: string, command: string, args: string[]): Promise<RunCommandOutput> {
  const view = await runAs(member, agent, 'run_command', { command, args, cwd: '.', timeoutMs: 30_000 });
  assertSucceeded(view);
  return view.output as RunCommandOutput;
}

export function assertBrokerRefused(view: IntentView, reason: IntentView['reason'], message?: RegExp): void {
  assert.equal(view.state, 'rejected', `expected a refusal, got ${view.state} ${view.reason} ${view.message}`);
  assert.equal(view.rejectedBy, 'broker', `refused by ${view.rejectedBy}: ${view.message}`);
  assert.equal(view.reason, reason, view.message ?? undefined);
  assert.equal(view.signedIntent, null, 'a refused intent is never signed or sent');
  if (message) assert.match(view.message ?? '', message);
}

/** Asserts an agent-side refusal: sent, then refused by the agent in a signed result. */
export function assertAgentRefused(view: IntentView | IntentDetail, reason: IntentView['reason'], message?: RegExp): void {
  assert.equal(view.state, 'rejected', `expected a refusal, got ${view.state} ${view.reason} ${view.message}`);
  assert.equal(view.rejectedBy, 'agent', `refused by ${view.rejectedBy}: ${view.message}`);
  assert.equal(view.reason, reason, view.message ?? undefined);
  // A detail leaves out a signed intent over BUDGETS.intentDetailBytes and says so: it was signed and sent all the same.
  const omitted = 'omitted' in view && view.omitted.includes('signedIntent');
  assert.ok(view.signedIntent !== null || omitted, 'the intent was signed and sent');
  assert.notEqual(view.signedResult, null, 'the refusal is a signed result');
  if (message) assert.match(view.message ?? '', message);
}

export function assertSucceeded(view: IntentView): void {
  assert.equal(view.state, 'succeeded', `expected success, got ${view.state} (${view.rejectedBy}) ${view.reason}: ${view.message}`);
}

/**
 * A fresh agent id that completes the hub handshake and so becomes a pending
 * registration; its connection is then closed (the registration stays).
 */
export async function registerAgent(broker: BrokerProcess, requested: AgentHello['requested'] = ['read_file', 'list_files']): Promise<string> {
  const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'target', requested, agentVersion: '0.0.0-target' });
  const { hub, status } = await bounded('an agent handshake', rogue.authenticate());
  hub.close();
  assert.equal(status, 'pending');
  return rogue.did;
}

/** Waits until a started agent is pending and online, approves it with `policy`, and waits for its v1 certificate and revocation list. */
export async function approveAgent(owner: Member, agent: AgentProcess, policy: ParamsOf<'registrationsApprove'>['policy']): Promise<void> {
  await waitFor(`${agent.did} pending and online`, async () => (await call(owner, 'registrationsList', {})).items.find((x) => x.did === agent.did && x.online));
  await call(owner, 'registrationsApprove', { did: agent.did, policy });
  await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
  await agent.log.waitFor('revocations.updated');
}

/** The newest revocation list version the agent logged it holds (-1: none yet). */
export function heldListVersion(log: LogTail): number {
  return Math.max(-1, ...log.lines.filter((l) => l.event === 'revocations.updated').map((l) => Number(l.version)));
}

/** How many revoked certificates the last list the agent accepted named (0: none accepted yet). */
export function heldListDelegations(log: LogTail): number {
  return Number(log.lines.filter((l) => l.event === 'revocations.updated').at(-1)?.delegations ?? 0);
}

/** A raw, never-authenticated JSON-RPC connection to the hub's /rpc endpoint. */
export class RawRpc {
  private constructor(
    readonly connection: MessageConnection,
    private readonly socket: WebSocket,
  ) {}

  static async connect(url: string): Promise<RawRpc> {
    const socket = new WebSocket(`${url.replace(/\/+$/, '')}/rpc`, { maxPayload: MAX_HUB_FRAME_BYTES });
    await bounded(
      'the /rpc socket to open',
      new Promise<void>((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      }),
    );
    const connection = createMessageConnection(new WebSocketMessageReader(socket), new WebSocketMessageWriter(socket));
    connection.listen();
    return new RawRpc(connection, socket);
  }

  request(method: string, params: unknown): Promise<unknown> {
    return bounded(`raw ${method}`, this.connection.sendRequest(method, params));
  }

  close(): void {
    this.connection.dispose();
    this.socket.terminate();
  }
}

/** The broker's audit log (JSON lines). */
export function auditLines(dataDir: string): Record<string, unknown>[] {
  return readFileSync(join(dataDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
