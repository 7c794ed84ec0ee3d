// End to end (issue 21): a real broker process started with --metrics on 127.0.0.1:0, real agent processes, real
// scrapes of /metrics. Each figure moves by exactly what the test did (intents by capability and final state, an
// approval requested and decided, handshakes refused with their reason, a revocation list pushed), and the
// counters read off the audit log agree with audit.log itself, line for line.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IdType, SecretIdentity } from '../../core/identity';
import type { Capability } from '../../core/wire/policy';
import type { PolicyRules } from '../../core/wire/policy-rules';
import { auditLines, call, connectAttempt, decisionParams, finalIntent, joinAs, ownerOf, pendingApproval, type Member } from '../attacks/support/team';
import { scrape, valueOf, type Sample } from '../support/prometheus';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();
const started = new Started();

const CAPABILITIES: Capability[] = ['read_file', 'list_files', 'write_file'];
const RULES: PolicyRules = { write_file: { default: 'allow', rules: [{ effect: 'ask', match: { path: 'release/**' }, note: 'a person signs a release' }] } };

let broker: BrokerProcess;
let metricsUrl: string;
let agent: AgentProcess;
let owner: Member;
let alice: Member; // operator: dispatches; the owner reviews

/** What moved between two scrapes. */
const delta = (from: Sample[], to: Sample[], name: string, labels: Record<string, string> = {}) => valueOf(to, name, labels) - valueOf(from, name, labels);

/** The audit.log lines written since the metrics listener started (from its ops.listening line on). */
const linesSinceListening = () => {
  const lines = auditLines(broker.dataDir);
  return lines.slice(lines.findIndex((l) => l.event === 'ops.listening'));
};

before(async () => {
  broker = await started.broker({ args: ['--metrics', '127.0.0.1:0'] });
  metricsUrl = String((await broker.log.waitFor('ops.listening')).url);
  owner = ownerOf(broker);
  alice = await joinAs(broker, owner, 'operator', 'alice');
  await call(owner, 'grantsCreate', { user: alice.did, agent: '*', capabilities: CAPABILITIES, validForMs: 60 * 60_000 });
  agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: CAPABILITIES.join(',') });
  await waitFor('the agent pending and online', async () => (await call(owner, 'registrationsList', {})).items.find((r) => r.did === agent.did && r.online));
  await call(owner, 'registrationsApprove', { did: agent.did, policy: { capabilities: CAPABILITIES, rules: RULES } });
  await agent.log.waitFor('auth.succeeded', (l) => l.policyVersion === 1);
  writeFileSync(join(agent.workspace, 'hello.txt'), 'hello\n');
  mkdirSync(join(agent.workspace, 'release'));
});

after(async () => {
  alice?.client.close();
  await started.cleanup();
});

describe('metrics scraped during an end-to-end run', () => {
  test('the listener says where it is (port 0), and it is ready', async () => {
    assert.match(metricsUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const ready = await fetch(`${metricsUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', failed: [], checks: { database: 'ok', 'audit-log': 'ok', hub: 'ok' } });
    assert.equal((await fetch(`${metricsUrl}/healthz`)).status, 200);
    const now = await scrape(metricsUrl);
    assert.equal(valueOf(now, 'vaultysclaw_agents', { status: 'approved' }), 1);
    assert.equal(valueOf(now, 'vaultysclaw_agents_online'), 1);
    assert.ok(valueOf(now, 'process_resident_memory_bytes') > 0, 'process metrics are there');
  });

  test('intents: each one counted once, by capability and final state, with its round trip', async () => {
    const from = await scrape(metricsUrl);
    const states: string[] = [];
    for (const path of ['hello.txt', 'hello.txt', 'missing.txt']) {
      const sent = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path } });
      states.push((await finalIntent(owner, sent.id)).state);
    }
    assert.deepEqual(states, ['succeeded', 'succeeded', 'failed']);
    // Not in the agent's policy: the broker refuses it before signing.
    const refused = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'run_command', params: { command: 'true', args: [], cwd: '.', timeoutMs: 1000 } });
    assert.deepEqual([refused.state, refused.rejectedBy], ['rejected', 'broker']);
    const to = await scrape(metricsUrl);
    assert.equal(delta(from, to, 'vaultysclaw_intents_total', { capability: 'read_file', state: 'succeeded' }), 2);
    assert.equal(delta(from, to, 'vaultysclaw_intents_total', { capability: 'read_file', state: 'failed' }), 1);
    assert.equal(delta(from, to, 'vaultysclaw_intents_total', { capability: 'run_command', state: 'refused' }), 1);
    assert.equal(delta(from, to, 'vaultysclaw_intents_total'), 4, 'nothing else counted');
    assert.equal(delta(from, to, 'vaultysclaw_intent_round_trip_seconds_count', { capability: 'read_file' }), 3);
    assert.equal(delta(from, to, 'vaultysclaw_intent_round_trip_seconds_count', { capability: 'run_command' }), 0, 'a refusal made no round trip');
  });

  test('approvals: requested, pending while it waits, decided with its time to decision; a rejection too', async () => {
    const from = await scrape(metricsUrl);
    const approved = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'release/a.txt', content: 'a\n', mode: 'create' } });
    const first = await pendingApproval(owner, approved.id);
    const waiting = await scrape(metricsUrl);
    assert.equal(delta(from, waiting, 'vaultysclaw_approvals_requested_total', { capability: 'write_file' }), 1);
    assert.equal(valueOf(waiting, 'vaultysclaw_approvals_pending'), 1);
    await call(owner, 'approvalsDecide', decisionParams(owner.identity, first, 'approve'));
    assert.equal((await finalIntent(owner, approved.id)).state, 'succeeded');

    const rejected = await call(alice, 'intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'release/b.txt', content: 'b\n', mode: 'create' } });
    const second = await pendingApproval(owner, rejected.id);
    await call(owner, 'approvalsDecide', decisionParams(owner.identity, second, 'reject', { reason: 'not now' }));
    const rejectedState = (await finalIntent(owner, rejected.id)).state;

    const to = await scrape(metricsUrl);
    assert.equal(delta(from, to, 'vaultysclaw_approvals_requested_total', { capability: 'write_file' }), 2);
    assert.equal(valueOf(to, 'vaultysclaw_approvals_pending'), 0);
    assert.equal(delta(from, to, 'vaultysclaw_approvals_total', { state: 'approved' }), 1);
    assert.equal(delta(from, to, 'vaultysclaw_approvals_total', { state: 'rejected' }), 1);
    assert.equal(delta(from, to, 'vaultysclaw_approvals_total', { state: 'expired' }), 0);
    assert.equal(delta(from, to, 'vaultysclaw_approval_decision_seconds_count'), 2);
    assert.equal(delta(from, to, 'vaultysclaw_intents_total', { capability: 'write_file', state: 'succeeded' }), 1);
    assert.equal(delta(from, to, 'vaultysclaw_intents_total', { capability: 'write_file', state: rejectedState }), rejectedState === 'succeeded' ? 2 : 1);
  });

  test('handshakes: a new agent counted ok; a rejected agent coming back and a stranger on /rpc refused, each with its reason', async () => {
    const from = await scrape(metricsUrl);
    const other = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'read_file', name: 'other' });
    await waitFor('the other agent pending and online', async () => (await call(owner, 'registrationsList', {})).items.find((r) => r.did === other.did && r.online));
    const pending = await scrape(metricsUrl);
    assert.equal(delta(from, pending, 'vaultysclaw_handshakes_total', { kind: 'agent', outcome: 'ok' }), 1);
    assert.equal(valueOf(pending, 'vaultysclaw_agents', { status: 'pending' }), 1);
    await call(owner, 'registrationsReject', { did: other.did, reason: 'unknown machine' });
    assert.equal(await other.exited(10_000), 3);

    const refusedFrom = await scrape(metricsUrl);
    const again = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, stateDir: other.stateDir, workspace: other.workspace, request: 'read_file', name: 'other' });
    assert.equal(await again.exited(10_000), 3, 'refused again');
    // One line for the refused try: the broker's, naming the agent and why (the hub adds none).
    const line = await broker.log.waitFor('auth.refused', (l) => l.did === other.did && l.reason === 'rejected');
    const usersRefused = broker.log.lines.filter((l) => l.event === 'auth.refused' && l.kind === 'user').length;
    assert.equal(await connectAttempt(broker, SecretIdentity.generate(IdType.Person), 'stranger').catch(() => 'refused'), 'refused');
    const userLine = await waitFor('the user refusal', () => broker.log.lines.filter((l) => l.event === 'auth.refused' && l.kind === 'user')[usersRefused]);
    const to = await scrape(metricsUrl);
    assert.equal(delta(refusedFrom, to, 'vaultysclaw_handshakes_total', { kind: 'agent', outcome: 'refused', reason: String(line.reason) }), 1, `reason ${String(line.reason)}`);
    assert.equal(delta(refusedFrom, to, 'vaultysclaw_handshakes_total', { kind: 'agent', outcome: 'refused' }), 1, 'one refusal, not one per line');
    assert.equal(delta(refusedFrom, to, 'vaultysclaw_handshakes_total', { kind: 'user', outcome: 'refused', reason: String(userLine.reason) }), 1, `reason ${String(userLine.reason)}`);
    assert.equal(delta(refusedFrom, to, 'vaultysclaw_handshakes_total', { kind: 'user', outcome: 'refused' }), 1);
    assert.equal(delta(refusedFrom, to, 'vaultysclaw_handshakes_total', { outcome: 'ok' }), 0);
    assert.equal(valueOf(to, 'vaultysclaw_agents', { status: 'rejected' }), 1);
  });

  test('a revocation list pushed to the online agents, with its fan-out time', async () => {
    const from = await scrape(metricsUrl);
    const grant = await call(owner, 'grantsCreate', { user: alice.did, agent: agent.did, capabilities: ['read_file'], validForMs: 60_000 });
    await call(owner, 'grantsRevoke', { id: grant.id });
    const published = await broker.log.waitFor('revocations.published', (l) => typeof l.agents === 'number' && Number(l.version) > 0);
    const to = await scrape(metricsUrl);
    assert.equal(published.agents, 1, 'the one online agent was told');
    assert.equal(delta(from, to, 'vaultysclaw_revocation_lists_pushed_total'), 1);
    assert.equal(delta(from, to, 'vaultysclaw_revocation_agents_told_total'), 1);
    assert.equal(delta(from, to, 'vaultysclaw_revocation_fan_out_seconds_count'), 1);
  });

  test('the audit-derived counters agree with audit.log line for line; storage latency of writes is measured', async () => {
    const now = await scrape(metricsUrl);
    const lines = linesSinceListening();
    assert.equal(valueOf(now, 'vaultysclaw_audit_lines_total'), lines.length);
    const checkpoints = lines.filter((l) => l.event === 'audit.checkpoint');
    assert.equal(valueOf(now, 'vaultysclaw_audit_checkpoints_total'), checkpoints.length);
    // One line per refused handshake: the hub's (a code), /rpc's of a user, or the broker's of a rejected or revoked agent.
    const handshakesRefused = lines.filter((l) => l.event === 'auth.refused' || l.event === 'auth.timeout').length;
    assert.equal(valueOf(now, 'vaultysclaw_handshakes_total', { outcome: 'refused' }), handshakesRefused);
    assert.equal(valueOf(now, 'vaultysclaw_approvals_requested_total'), lines.filter((l) => l.event === 'approval.requested').length);
    assert.ok(valueOf(now, 'vaultysclaw_storage_seconds_count', { op: 'run' }) > 0);
    assert.ok(valueOf(now, 'vaultysclaw_storage_seconds_count', { op: 'transaction' }) > 0);
  });
});
