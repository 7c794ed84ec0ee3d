/**
 * The seed's audit promise (security-model: registration approved / rejected, intent submission and routing, policy
 * updates, delegation issuance, tool approval requests and decisions, authentication), kept by the audit catalogue
 * (core/audit/events.ts): each security event it lists is catalogued, and a real broker driven through the path
 * that performs it writes it to audit.log with its fields. The whole log of that session then names only catalogued
 * events with the fields the catalogue gives them, and `broker audit verify` still passes on it.
 * Needs `npm run build` (dist/broker.js, dist/agent.js).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type pino from 'pino';
import { audit } from '../../../broker/audit/audit-log';
import { AUDIT_EVENTS, SECURITY_EVENTS, type AuditEvent } from '../../../core/audit/events';
import { IdType, SecretIdentity } from '../../../core/identity';
import { HUB_PROTOCOL_VERSION } from '../../../core/wire/hub-messages';
import { waitFor, type AgentProcess, type BrokerProcess } from '../../support/processes';
import { exitIfHeldOpen, Started } from '../../support/started';
import { bounded } from '../../attacks/support/fleet';
import { HubSocket, RogueAgent } from '../../attacks/support/rogue-agent';
import { approveAgent, assertSucceeded, auditLines, call, connectAs, decisionParams, finalIntent, joinAs, ownerOf, pendingApproval, runAs, type Member } from '../../attacks/support/team';
import { brokerCli } from './support';

exitIfHeldOpen();
const started = new Started();

let broker: BrokerProcess;
let agent: AgentProcess;
let owner: Member;
let bob: Member; // reviewer
const POLICY = { capabilities: ['read_file' as const, 'list_files' as const, 'write_file' as const], approvalRequired: ['write_file' as const] };
/** The catalogue events each test found written by the path it drove. */
const found = new Set<AuditEvent>();

/** Waits for the audit.log line of `event` whose fields include `fields`; it must parse as the catalogue says. */
async function audited(event: AuditEvent, fields: Record<string, unknown>): Promise<Record<string, unknown>> {
  const line = await waitFor(`audit.log to have ${event} ${JSON.stringify(fields)}`, () =>
    auditLines(broker.dataDir).find((l) => l.event === event && Object.entries(fields).every(([k, v]) => JSON.stringify(l[k]) === JSON.stringify(v))),
  );
  const parsed = AUDIT_EVENTS[event].safeParse(line);
  assert.ok(parsed.success, `${event} does not have the fields the catalogue lists: ${parsed.error?.message}`);
  found.add(event);
  return line;
}

before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  bob = await joinAs(broker, owner, 'reviewer', 'bob');
  agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'read_file,list_files,write_file' });
  await approveAgent(owner, agent, POLICY);
});

after(async () => {
  bob?.client.close();
  await started.cleanup();
});

describe('the seed security events: catalogued, and written by the path that performs them', () => {
  test('each security event the seed lists is in the catalogue', () => {
    for (const [what, events] of Object.entries(SECURITY_EVENTS)) {
      assert.ok(events.length > 0, `${what} names no event`);
      for (const event of events) assert.ok(Object.hasOwn(AUDIT_EVENTS, event), `${what}: ${event} is not in core/audit/events.ts`);
    }
  });

  test('agent registration approved: registrationsApprove writes registration.approved with the actor, the agent and the policy', async () => {
    const line = await audited('registration.approved', { actor: owner.did, did: agent.did });
    assert.deepEqual((line.policy as { capabilities: string[] }).capabilities, POLICY.capabilities);
    assert.deepEqual((line.policy as { approvalRequired: string[] }).approvalRequired, POLICY.approvalRequired);
  });

  test('agent registration rejected, and authentication refused to the rejected agent', async () => {
    const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did);
    const { hub, status } = await bounded('a new agent handshake', rogue.authenticate());
    hub.close();
    assert.equal(status, 'pending');
    await call(owner, 'registrationsReject', { did: rogue.did, reason: 'not one of ours' });
    await audited('registration.rejected', { actor: owner.did, did: rogue.did, reason: 'not one of ours' });
    // The rejected agent comes back: refused at INIT, and the refusal is audited.
    const again = await HubSocket.connect(broker.url);
    try {
      again.send({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: rogue.newInitiator().init });
      await again.next('error');
    } finally {
      again.close();
    }
    await audited('auth.refused', { did: rogue.did, reason: 'rejected' });
  });

  test('authentication: an agent and a user authenticated, a key that is no user refused on /rpc', async () => {
    await audited('auth.succeeded', { did: agent.did, status: 'approved', policyVersion: 1 });
    await audited('auth.succeeded', { kind: 'user', did: bob.did, role: 'reviewer' });
    const stranger = SecretIdentity.generate(IdType.Person);
    await assert.rejects(connectAs(broker, stranger, 'stranger'));
    // Refused at INIT, before it proved the key (the line cannot name it yet): the admission's reason and words say why.
    const refused = await audited('auth.refused', { kind: 'user', reason: 'invitation-needed' });
    assert.match(String(refused.detail), /you are not a user of this broker/);
  });

  test('intent submission and routing: a routed intent and one the broker refuses, each with who, what and where', async () => {
    const routed = await runAs(owner, agent.did, 'list_files', { path: '.' });
    assertSucceeded(routed);
    await audited('intent.routed', { intentId: routed.id, user: owner.did, role: 'owner', agent: agent.did, capability: 'list_files' });
    const refused = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'run_command', params: { command: 'true', args: [], cwd: '.', timeoutMs: 1000 } });
    assert.equal(refused.state, 'rejected', `${refused.reason}: ${refused.message}`);
    await audited('intent.refused', { intentId: refused.id, user: owner.did, agent: agent.did, capability: 'run_command', reason: refused.reason });
  });

  test('policy updates: policySet writes policy.updated with the new version', async () => {
    const policy = { ...POLICY, maxRequestsPerHour: 500 };
    await call(owner, 'policySet', { did: agent.did, policy });
    const line = await audited('policy.updated', { actor: owner.did, did: agent.did, policyVersion: 2 });
    assert.equal((line.policy as { maxRequestsPerHour: number }).maxRequestsPerHour, 500);
    await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 2);
  });

  test('delegation certificate issuance: grantsCreate writes delegation.issued with the grant', async () => {
    const grant = await call(owner, 'grantsCreate', { user: bob.did, agent: agent.did, capabilities: ['read_file'], validForMs: 60 * 60_000 });
    await audited('delegation.issued', { actor: owner.did, grant: grant.id, user: bob.did, agent: agent.did, capabilities: ['read_file'] });
  });

  test('tool approval requests and decisions: a paused write_file is requested, decided by a reviewer, and runs', async () => {
    const intent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'audited.txt', content: 'audited\n', mode: 'create' } });
    assert.equal(intent.state, 'sent', `${intent.reason}: ${intent.message}`);
    const approval = await pendingApproval(owner, intent.id);
    await audited('approval.requested', { requestId: approval.requestId, intentId: intent.id, agent: agent.did, user: owner.did, capability: 'write_file' });
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve', { reason: 'looks fine' }));
    await audited('approval.decided', { requestId: approval.requestId, intentId: intent.id, reviewer: bob.did, role: 'reviewer', decision: 'approve', reason: 'looks fine', approvals: 1, required: 1 });
    assertSucceeded(await finalIntent(owner, intent.id));
  });

  test('policy updates: "approve and allow this" writes policy.rule-added with the exact rule and the new version', async () => {
    const intent = await call(owner, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'allowed.txt', content: 'x\n', mode: 'create' } });
    const approval = await pendingApproval(owner, intent.id);
    const added = await call(owner, 'policyAllowCall', { requestId: approval.requestId });
    await audited('policy.rule-added', { actor: owner.did, did: agent.did, requestId: approval.requestId, capability: 'write_file', rule: 'allow allowed.txt', policyVersion: added.agent.policy!.policyVersion });
    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    assertSucceeded(await finalIntent(owner, intent.id));
  });

  test('every security event was found written, the whole log names only catalogued events with their fields, and it verifies', async () => {
    for (const events of Object.values(SECURITY_EVENTS)) for (const event of events) assert.ok(found.has(event), `no path above wrote ${event}`);
    await broker.stop();
    const lines = auditLines(broker.dataDir);
    assert.ok(lines.length > 20, `${lines.length} lines`);
    for (const line of lines) {
      const schema = AUDIT_EVENTS[line.event as AuditEvent];
      assert.ok(schema, `audit.log line ${String(line.seq)} has an event the catalogue does not name: ${String(line.event)}`);
      const parsed = schema.safeParse(line);
      assert.ok(parsed.success, `audit.log line ${String(line.seq)} (${String(line.event)}) does not match the catalogue: ${parsed.error?.message}`);
    }
    const verified = brokerCli('audit', 'verify', `${broker.dataDir}/audit.log`, '--broker-did', broker.did);
    assert.equal(verified.status, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /audit\.log: OK: \d+ lines/);
  });
});

/** Compile-time only (never called): `tsc -b` fails if any of these stops being an error, i.e. if the catalogue stops being checked. */
export function catalogueIsCheckedByTheCompiler(log: pino.Logger): void {
  const routed = { intentId: 'i', user: 'u', role: 'owner', agent: 'a', capability: 'read_file' } as const;
  audit(log).info('intent.routed', routed, 'the one that compiles');
  // @ts-expect-error an event the catalogue does not name
  audit(log).info('intent.routd', routed, 'misspelt');
  // @ts-expect-error a field the event does not have
  audit(log).info('intent.routed', { ...routed, secret: 'x' }, 'extra field');
  // @ts-expect-error a field of the wrong type
  audit(log).info('intent.routed', { ...routed, role: 'root' }, 'wrong type');
  // @ts-expect-error a field the event requires is missing
  audit(log).info('intent.routed', { intentId: 'i' }, 'missing fields');
}
