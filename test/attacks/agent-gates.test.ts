/**
 * Seed threat table, agent side: the real IntentRunner (agent/intent-runner.ts)
 * with real SQLite stores and a real sandbox. Every attack must end in a signed
 * refusal with its exact reason, and the tool must not run.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { canonicalEncode, decodeCanonical, IdType, seal, SecretIdentity } from '../../core/identity';
import { HOUR_MS } from '../../core/policy/intent-gates';
import { waitFor } from '../support/processes';
import { indexesOf, otherByte, uniqueIndexOf, withByte } from './support/bytes';
import { policy, RunnerHarness, SKEW_MS, STALENESS_MS, T0 } from './support/runner-harness';

let harness: RunnerHarness | undefined;
function setup(...args: ConstructorParameters<typeof RunnerHarness>): RunnerHarness {
  harness = new RunnerHarness(...args);
  return harness;
}
afterEach(() => {
  harness?.cleanup();
  harness = undefined;
});

const fixstr = (s: string) => new Uint8Array(Buffer.concat([Buffer.from([0xa0 | Buffer.byteLength(s)]), Buffer.from(s)]));

/**
 * Offset of the first byte of the value that follows map key `key` in
 * canonical msgpack, ignoring the nested delegation certificate (whose own
 * signed bytes repeat several of the intent's keys).
 */
function valueOffset(payload: Uint8Array, key: string, nested?: Uint8Array): number {
  const k = fixstr(key);
  const skip = nested ? { from: uniqueIndexOf(payload, nested), length: nested.length } : { from: -1, length: 0 };
  const hits = indexesOf(payload, k).filter((at) => at < skip.from || at >= skip.from + skip.length);
  assert.equal(hits.length, 1, `key ${key} occurs ${hits.length} times outside the nested certificate`);
  return hits[0]! + k.length;
}

/** The last byte of a msgpack str or uint64 value starting at `at`. */
function lastByteOfScalar(payload: Uint8Array, at: number): number {
  const head = payload[at]!;
  if ((head & 0xe0) === 0xa0) return at + (head & 0x1f); // fixstr
  if (head === 0xd9) return at + 1 + payload[at + 1]!; // str8
  if (head === 0xcf) return at + 8; // uint64
  throw new Error(`unexpected msgpack head 0x${head.toString(16)} at ${at}`);
}

describe('agent gates: Intent tampering in transit (signature mismatch → rejected)', () => {
  const target = 'tamper-target.txt';

  test('Intent tampering: a byte changed in every field of the signed intent, or in the signature, is refused as bad-signature and nothing runs', async () => {
    const h = setup();
    const body = h.intent({ capability: 'write_file', params: { path: target, content: 'pwned', mode: 'create' } });
    const genuine = h.seal(body);
    const p = genuine.payload;
    const nested = canonicalEncode(body.delegation);
    const at = (key: string) => valueOffset(p, key, nested);
    const cases: Array<{ field: string; at: number }> = [
      { field: 'ctx', at: lastByteOfScalar(p, at('ctx')) - 1 },
      { field: 'id', at: lastByteOfScalar(p, at('id')) },
      { field: 'agent', at: lastByteOfScalar(p, at('agent')) },
      { field: 'capability', at: lastByteOfScalar(p, at('capability')) },
      { field: 'params', at: uniqueIndexOf(p, target) + target.length - 1 },
      { field: 'user', at: lastByteOfScalar(p, at('user')) },
      { field: 'delegation', at: uniqueIndexOf(p, body.delegation.signature) + 10 },
      { field: 'revocationVersion', at: at('revocationVersion') },
      { field: 'issuedAt', at: lastByteOfScalar(p, at('issuedAt')) },
      { field: 'expiresAt', at: lastByteOfScalar(p, at('expiresAt')) },
    ];
    for (const { field, at: offset } of cases) {
      // revocationVersion: fixint 0 becomes 1, still a valid encoding.
      const payload = withByte(p, offset, field === 'revocationVersion' ? 0x01 : otherByte(p[offset]!));
      const decoded = decodeCanonical(payload);
      assert.ok(decoded.ok, `${field}: the flip must keep the payload decodable, so the refusal is about the signature`);
      const tamperedBody = (decoded.value as { body: Record<string, unknown> }).body;
      // Exactly the field aimed at changed (ctx lives outside body).
      const changed = Object.keys(body).filter((k) => JSON.stringify(tamperedBody[k]) !== JSON.stringify((body as Record<string, unknown>)[k]));
      assert.deepEqual(changed, field === 'ctx' ? [] : [field], `${field}: changed ${changed.join(',')}`);
      const result = await h.expectRefused({ payload, signature: genuine.signature }, String(tamperedBody.id), 'bad-signature');
      assert.match(result.message, /signature does not verify/);
    }
    // The signature itself.
    for (const at of [0, 31, 63]) {
      await h.expectRefused({ payload: p, signature: withByte(genuine.signature, at, genuine.signature[at]! ^ 0x80) }, body.id, 'bad-signature');
    }
    assert.equal(existsSync(join(h.workspace, target)), false, 'no tampered intent may write its file');
    assert.equal(existsSync(join(h.workspace, 'tamper-target.txu')), false);
    assert.equal(h.executedCount(), 0);
    // None of the refusals spent the id: the untouched intent still runs (so the attack above could have succeeded).
    await h.expectSucceeded(genuine, body.id);
    assert.equal(readFileSync(join(h.workspace, target), 'utf8'), 'pwned');
  });

  test('Intent tampering: a flip that breaks decoding is still refused as bad-signature (checked first); no id can be claimed, so it is only audited', async () => {
    const h = setup();
    const body = h.intent({ capability: 'write_file', params: { path: 'undecodable.txt', content: 'x', mode: 'create' } });
    const genuine = h.seal(body);
    // 0xc1 is never a valid MessagePack byte: the payload no longer decodes.
    const payload = withByte(genuine.payload, valueOffset(genuine.payload, 'revocationVersion', canonicalEncode(body.delegation)), 0xc1);
    assert.equal(decodeCanonical(payload).ok, false);
    const results = await h.deliver({ payload, signature: genuine.signature });
    assert.deepEqual(results, [], 'an undecodable intent has no id to answer under');
    const audit = h.logs.find((l) => l.event === 'intent.refused');
    assert.equal(audit?.reason, 'bad-signature');
    assert.equal(audit?.claimedId, null);
    assert.equal(existsSync(join(h.workspace, 'undecodable.txt')), false);
  });

  test('Agent impersonation of the broker: an intent signed by a forged broker key is refused as bad-signature', async () => {
    const h = setup();
    const forger = SecretIdentity.generate(IdType.Machine);
    const body = h.intent({ capability: 'write_file', params: { path: 'forged.txt', content: 'x', mode: 'create' } });
    await h.expectRefused(h.seal(body, forger), body.id, 'bad-signature');
    assert.equal(existsSync(join(h.workspace, 'forged.txt')), false);
    // The same body signed by the pinned broker runs.
    await h.expectSucceeded(h.seal(body), body.id);
    assert.equal(existsSync(join(h.workspace, 'forged.txt')), true);
  });

  test('Signature context confusion: a valid broker signature made for another context (result, progress, delegation) is refused as an intent', async () => {
    const h = setup();
    for (const ctx of ['vaultysclaw/result/v1', 'vaultysclaw/progress/v1', 'vaultysclaw/delegation/v1'] as const) {
      const body = h.intent({ capability: 'write_file', params: { path: 'cross.txt', content: 'x', mode: 'create' } });
      const envelope = seal(h.broker, ctx, body);
      // open() says wrong-context; the wire has no such reason, the runner reports it as malformed.
      const result = await h.expectRefused(envelope, body.id, 'malformed');
      assert.match(result.message, new RegExp(`signed for ${ctx}`));
    }
    assert.equal(existsSync(join(h.workspace, 'cross.txt')), false);
    assert.equal(h.executedCount(), 0);
  });
});

describe('agent gates: Replay attack (duplicate / stale → rejected)', () => {
  test('Replay attack: the same envelope delivered twice runs once; the second is refused as replay, also after an agent restart', async () => {
    const h = setup();
    const file = join(h.workspace, 'replayed.txt');
    const body = h.intent({ capability: 'write_file', params: { path: 'replayed.txt', content: 'from the intent', mode: 'overwrite' } });
    const envelope = h.seal(body);
    await h.expectSucceeded(envelope, body.id);
    assert.equal(readFileSync(file, 'utf8'), 'from the intent');
    writeFileSync(file, 'changed since');
    await h.expectRefused(envelope, body.id, 'replay');
    assert.equal(readFileSync(file, 'utf8'), 'changed since', 'a replay must not run the tool again');
    h.restart();
    h.clock += 60_000;
    await h.expectRefused(envelope, body.id, 'replay');
    assert.equal(readFileSync(file, 'utf8'), 'changed since');
    assert.equal(h.executedCount(), 1);
  });

  test('Replay attack: an intent issued longer ago than the staleness window plus skew is refused as stale', async () => {
    const h = setup();
    const edge = T0 - STALENESS_MS - SKEW_MS;
    const stale = h.intent({ issuedAt: edge - 1, expiresAt: edge - 1 + STALENESS_MS });
    await h.expectRefused(h.seal(stale), stale.id, 'stale');
    // Exactly at the edge it is still accepted: the check is not off by more than a millisecond.
    const atEdge = h.intent({ issuedAt: edge, expiresAt: edge + STALENESS_MS });
    await h.expectSucceeded(h.seal(atEdge), atEdge.id);
    assert.equal(h.executedCount(), 1);
  });

  test('Replay attack: an intent issued in the future beyond the clock skew is refused as from-future', async () => {
    const h = setup();
    const future = h.intent({ issuedAt: T0 + SKEW_MS + 1, expiresAt: T0 + SKEW_MS + 1 + STALENESS_MS });
    await h.expectRefused(h.seal(future), future.id, 'from-future');
    const atEdge = h.intent({ issuedAt: T0 + SKEW_MS, expiresAt: T0 + SKEW_MS + STALENESS_MS });
    await h.expectSucceeded(h.seal(atEdge), atEdge.id);
  });
});

describe('agent gates: Compromised agent / Resource limit bypass (limits from the certificate)', () => {
  test('Misrouted intent: an intent addressed to another agent is refused as wrong-agent', async () => {
    const h = setup();
    const other = SecretIdentity.generate(IdType.Machine);
    const body = h.intent({ agent: other.did, capability: 'write_file', params: { path: 'elsewhere.txt', content: 'x', mode: 'create' } });
    await h.expectRefused(h.seal(body), body.id, 'wrong-agent');
    assert.equal(existsSync(join(h.workspace, 'elsewhere.txt')), false);
  });

  test('Compromised agent (capability scoping): a capability not in the certificate policy is refused as capability-not-granted', async () => {
    const h = setup(policy({ capabilities: ['read_file', 'list_files'] }));
    const body = h.intent({ capability: 'write_file', params: { path: 'not-granted.txt', content: 'x', mode: 'create' } });
    await h.expectRefused(h.seal(body), body.id, 'capability-not-granted');
    assert.equal(existsSync(join(h.workspace, 'not-granted.txt')), false);
    const allowed = h.intent({ capability: 'list_files' });
    await h.expectSucceeded(h.seal(allowed), allowed.id);
  });

  test('Expired policy still used: an intent after policyExpiresAt is refused as policy-expired', async () => {
    const h = setup(policy({ policyExpiresAt: T0 + 1000 }));
    const before = h.intent();
    await h.expectSucceeded(h.seal(before), before.id);
    h.clock = T0 + 1000; // the expiry instant itself is already expired
    const after = h.intent({ capability: 'write_file', params: { path: 'expired.txt', content: 'x', mode: 'create' } });
    await h.expectRefused(h.seal(after), after.id, 'policy-expired');
    assert.equal(existsSync(join(h.workspace, 'expired.txt')), false);
  });

  test('Unconstrained request rate: past maxRequestsPerHour intents are refused as rate-limited; only executed requests count (rolling hour)', async () => {
    const h = setup(policy({ capabilities: ['list_files'], maxRequestsPerHour: 2 }));
    // Refusals before execution must not consume the budget.
    const notGranted = h.intent({ capability: 'write_file', params: { path: 'x.txt', content: 'x', mode: 'create' } });
    await h.expectRefused(h.seal(notGranted), notGranted.id, 'capability-not-granted');
    const badParams = h.intent({ capability: 'list_files', params: { path: '.', extra: true } });
    await h.expectRefused(h.seal(badParams), badParams.id, 'bad-params');
    assert.equal(h.executedCount(), 0);

    const a = h.intent();
    await h.expectSucceeded(h.seal(a), a.id);
    h.clock = T0 + 10 * 60_000;
    const b = h.intent();
    await h.expectSucceeded(h.seal(b), b.id);
    h.clock = T0 + 20 * 60_000;
    for (let i = 0; i < 5; i++) {
      const over = h.intent();
      const r = await h.expectRefused(h.seal(over), over.id, 'rate-limited');
      assert.match(r.message, /2 requests in the last hour/);
    }
    assert.equal(h.executedCount(), 2, 'rate-limited refusals are not recorded as executed');
    // An hour after `a`, only `b` is in the window: one more runs — which it could not if the five refusals had counted.
    h.clock = T0 + HOUR_MS + 1;
    const c = h.intent();
    await h.expectSucceeded(h.seal(c), c.id);
    const d = h.intent();
    await h.expectRefused(h.seal(d), d.id, 'rate-limited');
    // A refused intent spent its id: replayed once the window allows one more (b leaves it at T0+70min), it is a replay.
    h.clock = T0 + 68 * 60_000;
    const e = h.intent();
    const held = h.seal(e);
    await h.expectRefused(held, e.id, 'rate-limited');
    h.clock = T0 + 70 * 60_000 + 1;
    await h.expectRefused(held, e.id, 'replay');
    const f = h.intent();
    await h.expectSucceeded(h.seal(f), f.id);
    assert.equal(h.executedCount(), 4);
  });

  test('Runaway token spend: once the daily token budget is used (ledger.add) intents are refused as token-budget-exhausted', async () => {
    const h = setup(policy({ maxTokensPerDay: 1000 }));
    h.tokens.add(999, T0);
    const under = h.intent();
    await h.expectSucceeded(h.seal(under), under.id);
    h.tokens.add(1, T0);
    const over = h.intent({ capability: 'write_file', params: { path: 'budget.txt', content: 'x', mode: 'create' } });
    const r = await h.expectRefused(h.seal(over), over.id, 'token-budget-exhausted');
    assert.match(r.message, /1000/);
    assert.equal(existsSync(join(h.workspace, 'budget.txt')), false);
    // The budget is per UTC day, and persisted: a restart does not reset it.
    h.restart();
    const again = h.intent();
    await h.expectRefused(h.seal(again), again.id, 'token-budget-exhausted');
  });

  test('Tool approval workflow: a tool flagged in the certificate pauses for a reviewer and does not run; with no decision it is refused as approval-expired at the certified timeout', async () => {
    const h = setup(policy({ capabilities: ['list_files', 'write_file'], approvalRequired: ['write_file'], approvalTimeoutMs: 300 }));
    const body = h.intent({ capability: 'write_file', params: { path: 'needs-approval.txt', content: 'x', mode: 'create' } });
    const pending = h.deliver(h.seal(body));
    await new Promise((r) => setTimeout(r, 50));
    const [request, ...more] = h.approvalRequests();
    assert.equal(more.length, 0);
    assert.equal(request?.intentId, body.id);
    assert.deepEqual(request?.params, body.params);
    assert.equal(request?.user, h.user.did);
    assert.equal(existsSync(join(h.workspace, 'needs-approval.txt')), false, 'nothing runs while waiting');
    // A decision the requesting user signed, and one countersigned by a key other than the pinned broker's, are both ignored.
    h.runner.onApprovalDecision(h.decision(request!, 'approve', h.user), h.session);
    const forged = h.decision(request!, 'approve');
    forged.countersignature = seal(SecretIdentity.generate(IdType.Machine), 'vaultysclaw/approval-countersign/v1', {
      requestId: request!.requestId,
      reviewer: h.reviewer.did,
      decisionSha256: '0'.repeat(64),
      countersignedAt: h.clock,
    });
    h.runner.onApprovalDecision(forged, h.session);
    const refusals = h.logs.filter((l) => l.event === 'approval.refused').map((l) => String(l.detail));
    assert.equal(refusals.length, 2);
    assert.match(refusals[0]!, /cannot approve a tool call of their own intent/);
    assert.match(refusals[1]!, /countersignature/);
    const results = await pending;
    assert.equal(results.length, 1);
    assert.equal(results[0]!.outcome, 'rejected');
    assert.equal(results[0]!.reason, 'approval-expired');
    assert.equal(existsSync(join(h.workspace, 'needs-approval.txt')), false);
    assert.equal(h.executedCount(), 0);
  });

  test('Tool approval workflow: a reviewer\'s signed, broker-countersigned approval lets the paused tool run; a rejection refuses it as approval-rejected', async () => {
    const h = setup(policy({ capabilities: ['list_files', 'write_file'], approvalRequired: ['write_file'] }));
    const approved = h.intent({ capability: 'write_file', params: { path: 'approved.txt', content: 'x', mode: 'create' } });
    const rejected = h.intent({ capability: 'write_file', params: { path: 'rejected.txt', content: 'x', mode: 'create' } });
    const first = h.deliver(h.seal(approved));
    const second = h.deliver(h.seal(rejected));
    await waitFor('two approval requests', () => h.approvalRequests().length === 2, 2000);
    const [forApproved, forRejected] = h.approvalRequests();
    h.runner.onApprovalDecision(h.decision(forApproved!, 'approve'), h.session);
    h.runner.onApprovalDecision(h.decision(forRejected!, 'reject'), h.session);
    assert.equal((await first)[0]?.outcome, 'succeeded');
    const [refusal] = await second;
    assert.equal(refusal?.reason, 'approval-rejected');
    assert.equal(existsSync(join(h.workspace, 'approved.txt')), true);
    assert.equal(existsSync(join(h.workspace, 'rejected.txt')), false);
  });

  test('Expired policy still used: a tool call paused for approval does not run once the certified policy has expired meanwhile', async () => {
    const h = setup(policy({ capabilities: ['write_file'], approvalRequired: ['write_file'], policyExpiresAt: T0 + 1000 }));
    const body = h.intent({ capability: 'write_file', params: { path: 'after-expiry.txt', content: 'x', mode: 'create' } });
    const pending = h.deliver(h.seal(body));
    await waitFor('the approval request', () => h.approvalRequests().length === 1, 2000);
    h.clock = T0 + 2000; // the policy expired while the reviewer was deciding
    h.runner.onApprovalDecision(h.decision(h.approvalRequests()[0]!, 'approve'), h.session);
    const [result] = await pending;
    assert.equal(existsSync(join(h.workspace, 'after-expiry.txt')), false, 'executed under an expired policy');
    assert.equal(result?.outcome, 'rejected');
    assert.equal(result?.reason, 'policy-expired');
  });

  test('Stale delegation: a tool call paused for approval does not run once its delegation was revoked meanwhile', async () => {
    const h = setup(policy({ capabilities: ['write_file'], approvalRequired: ['write_file'] }));
    const delegation = h.delegation();
    const body = h.intent({ capability: 'write_file', params: { path: 'after-revocation.txt', content: 'x', mode: 'create' }, delegation });
    const pending = h.deliver(h.seal(body));
    await waitFor('the approval request', () => h.approvalRequests().length === 1, 2000);
    const delegationId = (decodeCanonical(delegation.payload) as { ok: true; value: { body: { id: string } } }).value.body.id;
    h.runner.updateRevocations(seal(h.broker, 'vaultysclaw/revocation-list/v1', { version: 1, issuedAt: h.clock, delegations: [delegationId], users: [] }), h.session);
    assert.ok(h.logs.some((l) => l.event === 'revocations.updated' && l.version === 1));
    h.runner.onApprovalDecision(h.decision(h.approvalRequests()[0]!, 'approve'), h.session);
    const [result] = await pending;
    assert.equal(existsSync(join(h.workspace, 'after-revocation.txt')), false, 'executed under a revoked delegation');
    assert.equal(result?.outcome, 'rejected');
    assert.equal(result?.reason, 'delegation-revoked');
  });

  test('Unconstrained request rate: intents paused for approval cannot together run past maxRequestsPerHour', async () => {
    const h = setup(policy({ capabilities: ['list_files', 'write_file'], approvalRequired: ['write_file'], maxRequestsPerHour: 1 }));
    const bodies = [0, 1, 2].map((i) => h.intent({ capability: 'write_file', params: { path: `paused-${i}.txt`, content: 'x', mode: 'create' } }));
    const pending = bodies.map((b) => h.deliver(h.seal(b)));
    // Each intent is now either waiting for a reviewer or already answered (a fix may refuse at the gate).
    const answered = () => h.frames.filter((f) => f.type === 'result').length;
    await waitFor('every intent to wait or be answered', () => h.approvalRequests().length + answered() === 3, 2000);
    for (const request of h.approvalRequests()) h.runner.onApprovalDecision(h.decision(request, 'approve'), h.session);
    const outcomes = (await Promise.all(pending)).map((r) => `${r[0]?.outcome}:${r[0]?.reason}`);
    const ran = bodies.filter((_, i) => existsSync(join(h.workspace, `paused-${i}.txt`))).length;
    assert.equal(h.executedCount(), ran);
    assert.deepEqual(
      { ran, outcomes: outcomes.sort() },
      { ran: 1, outcomes: ['rejected:rate-limited', 'rejected:rate-limited', 'succeeded:null'] },
      'the hourly limit of 1 must hold once the approvals arrive',
    );
  });
});
