// The delegation gate (core/policy/delegation-gate): who may ask this agent for what, on the broker's signature.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IdType, seal, SecretIdentity } from '../../../core/identity';
import { checkDelegation, NO_REVOCATIONS, readRevocationList, type RevocationState } from '../../../core/policy/delegation-gate';
import type { DelegationBody } from '../../../core/wire/delegation';
import type { IntentBody } from '../../../core/wire/intent';
import { broker, DAY, NOW, successor } from '../authority/support/chain-fixtures';

describe('delegation certificates across a rotation', () => {
  const user = SecretIdentity.generate(IdType.Person);
  const agent = `did:vaultys:${'0'.repeat(40)}`;
  const delegation = (by: SecretIdentity) =>
    seal(by, 'vaultysclaw/delegation/v1', { id: 'ab'.repeat(16), user: user.did, agent: '*', capabilities: ['read_file'], issuedAt: NOW - DAY, expiresAt: NOW + DAY });
  const intent = (by: SecretIdentity): IntentBody => ({
    id: 'cd'.repeat(16),
    agent,
    capability: 'read_file',
    params: { path: 'a' },
    user: user.did,
    delegation: delegation(by),
    revocationVersion: 0,
    issuedAt: NOW,
    expiresAt: NOW + 60_000,
  });
  const gate = (i: IntentBody, formerUntil: number | null) =>
    checkDelegation(i, { broker: successor.id, formerBroker: formerUntil === null ? null : { id: broker.id, until: formerUntil }, agent, now: NOW, clockSkewMs: 30_000, revocations: { ...NO_REVOCATIONS, version: 0 } });

  test('re-issued under the new id: accepted', () => {
    assert.deepEqual(gate(intent(successor), null), { ok: true });
  });

  test('signed by the replaced id: accepted during the grace the root set, refused after it (and at once with zero grace)', () => {
    assert.deepEqual(gate(intent(broker), NOW + 1), { ok: true });
    const after = gate(intent(broker), NOW);
    assert.equal(after.ok, false);
    assert.equal(after.ok ? '' : after.reason, 'delegation-invalid');
    assert.match(after.ok ? '' : after.message, /replaced broker id .* grace period is over/);
  });

  test('signed by an id the certificate does not name as replaced: refused as a bad signature', () => {
    const stranger = SecretIdentity.generate(IdType.Machine);
    const result = gate(intent(stranger), NOW + DAY);
    assert.equal(result.ok ? '' : result.reason, 'delegation-invalid');
    assert.match(result.ok ? '' : result.message, /signature does not verify/);
  });
});

describe('checkDelegation: every refusal names its gate', () => {
  const user = SecretIdentity.generate(IdType.Person);
  const agent = `did:vaultys:${'1'.repeat(40)}`;
  const body = (o: Partial<DelegationBody> = {}): DelegationBody => ({
    id: 'ef'.repeat(16), user: user.did, agent, capabilities: ['read_file'], issuedAt: NOW - DAY, expiresAt: NOW + DAY, ...o,
  });
  const intent = (d: DelegationBody | ReturnType<typeof seal>, o: Partial<IntentBody> = {}): IntentBody => ({
    id: 'cd'.repeat(16), agent, capability: 'read_file', params: {}, user: user.did,
    delegation: 'payload' in d ? d : seal(broker, 'vaultysclaw/delegation/v1', d), revocationVersion: 0, issuedAt: NOW, expiresAt: NOW + 60_000, ...o,
  });
  const revocations = (o: Partial<RevocationState> = {}): RevocationState => ({ version: 0, delegations: new Set(), users: new Set(), ...o });
  const gate = (i: IntentBody, r = revocations()) => checkDelegation(i, { broker: broker.id, agent, now: NOW, clockSkewMs: 30_000, revocations: r });
  const reason = (verdict: ReturnType<typeof gate>) => (verdict.ok ? 'accepted' : verdict.reason);

  test('a certificate from the pinned broker, for this user, this agent (or all) and this capability, unexpired and unrevoked: accepted', () => {
    assert.deepEqual(gate(intent(body())), { ok: true });
    assert.deepEqual(gate(intent(body({ agent: '*' }))), { ok: true });
  });

  test('an agent holding an older revocation list than the intent was issued under refuses it, before reading the certificate', () => {
    assert.equal(reason(gate(intent(body(), { revocationVersion: 1 }))), 'revocation-list-stale');
    assert.equal(reason(gate(intent(body(), { revocationVersion: 0 }), NO_REVOCATIONS)), 'revocation-list-stale');
    assert.equal(reason(gate(intent(body(), { revocationVersion: 1 }), revocations({ version: 2 }))), 'accepted');
  });

  test('signed by anyone but the broker, or not a delegation body: delegation-invalid', () => {
    assert.equal(reason(gate(intent(seal(successor, 'vaultysclaw/delegation/v1', body())))), 'delegation-invalid');
    assert.equal(reason(gate(intent(seal(broker, 'vaultysclaw/intent/v1', body())))), 'delegation-invalid', 'another context');
    assert.equal(reason(gate(intent(seal(broker, 'vaultysclaw/delegation/v1', { ...body(), capabilities: [] })))), 'delegation-invalid');
  });

  test('for another user, another agent or another capability: each refused with its own reason', () => {
    assert.equal(reason(gate(intent(body({ user: successor.did })))), 'delegation-wrong-user');
    assert.equal(reason(gate(intent(body({ agent: `did:vaultys:${'2'.repeat(40)}` })))), 'delegation-wrong-agent');
    assert.equal(reason(gate(intent(body(), { capability: 'write_file' }))), 'delegation-capability');
  });

  test('issued beyond the clock skew in the future is invalid; expired at now is expired; within the skew is fine', () => {
    assert.equal(reason(gate(intent(body({ issuedAt: NOW + 30_000 })))), 'accepted');
    assert.equal(reason(gate(intent(body({ issuedAt: NOW + 30_001 })))), 'delegation-invalid');
    assert.equal(reason(gate(intent(body({ expiresAt: NOW })))), 'delegation-expired');
    assert.equal(reason(gate(intent(body({ expiresAt: NOW + 1 })))), 'accepted');
  });

  test('a revoked certificate, or any certificate of a revoked user, is refused as revoked', () => {
    assert.equal(reason(gate(intent(body()), revocations({ delegations: new Set([body().id]) }))), 'delegation-revoked');
    assert.equal(reason(gate(intent(body()), revocations({ users: new Set([user.did]) }))), 'delegation-revoked');
  });

  test('a body the broker signed in this process skips the signature check, and still meets every other gate', () => {
    const forged = intent(seal(successor, 'vaultysclaw/delegation/v1', body()));
    const here = (d: DelegationBody) => checkDelegation(forged, { broker: broker.id, agent, now: NOW, clockSkewMs: 30_000, revocations: revocations() }, d);
    assert.deepEqual(here(body()), { ok: true });
    assert.equal(reason(here(body({ expiresAt: NOW }))), 'delegation-expired');
  });
});

describe('readRevocationList', () => {
  const list = { version: 3, issuedAt: NOW, delegations: ['ab'.repeat(16)], users: [`did:vaultys:${'3'.repeat(40)}`] };

  test('a list the broker signed is read as sets at its version', () => {
    const state = readRevocationList(broker.id, seal(broker, 'vaultysclaw/revocation-list/v1', list));
    assert.deepEqual(state, { version: 3, delegations: new Set(list.delegations), users: new Set(list.users) });
  });

  test('a list signed by another id, under another context, or not of the schema is refused with why', () => {
    assert.match(String(readRevocationList(broker.id, seal(successor, 'vaultysclaw/revocation-list/v1', list))), /^revocation list: /);
    assert.match(String(readRevocationList(broker.id, seal(broker, 'vaultysclaw/delegation/v1', list))), /^revocation list: /);
    assert.equal(readRevocationList(broker.id, seal(broker, 'vaultysclaw/revocation-list/v1', { ...list, version: -1 })), 'revocation list does not match its schema');
  });
});
