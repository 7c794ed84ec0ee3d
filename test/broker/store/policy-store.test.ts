import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PolicyStore, type PolicyChoice } from '../../../broker/store/policy-store';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import type { PolicyRules } from '../../../core/wire/policy-rules';
import { sendIntents } from './support/sent-intents';
import { did, tempBrokerDatabase } from './support/temp-database';

const choice: PolicyChoice = {
  capabilities: ['read_file', 'write_file', 'read_file'],
  approvalRequired: ['write_file', 'write_file'],
  maxTokensPerDay: 1_000,
  maxRequestsPerHour: 10,
  validForMs: 60_000,
  allowedDomains: ['example.com', '*.example.com', 'example.com'],
  commandLimits: { ...MAX_COMMAND_LIMITS, cpuSeconds: 5, processes: 3 },
  rules: null,
};

function policies() {
  const store = tempBrokerDatabase();
  sendIntents(store.db, [], did(1));
  return { ...store, policies: new PolicyStore(store.db) };
}

describe('PolicyStore (real SQLite file)', () => {
  test('an agent with no policy has none', () => {
    assert.equal(policies().policies.get(did(1)), undefined);
  });

  test('a policy is stored as chosen, lists without repeats, expiring validForMs from now, at version 1', () => {
    const { policies: store } = policies();
    assert.deepEqual(store.set(did(1), choice, 1_000), {
      policyId: `policy:${did(1)}`,
      policyVersion: 1,
      capabilities: ['read_file', 'write_file'],
      approvalRequired: ['write_file'],
      maxTokensPerDay: 1_000,
      maxRequestsPerHour: 10,
      policyExpiresAt: 61_000,
      allowedDomains: ['example.com', '*.example.com'],
      commandLimits: choice.commandLimits,
    });
  });

  test('every change makes a new version and replaces the whole policy; a restart reads the last one', () => {
    const store = policies();
    store.policies.set(did(1), choice, 1_000);
    assert.equal(store.policies.get(did(1))!.policyVersion, 1, 'read once, cached');
    const second = store.policies.set(did(1), { ...choice, capabilities: ['read_file'], allowedDomains: [] }, 2_000);
    assert.deepEqual([second.policyVersion, second.capabilities, second.allowedDomains, second.policyExpiresAt], [2, ['read_file'], [], 62_000]);
    assert.deepEqual(store.policies.get(did(1)), second, 'the cached policy follows the write');
    assert.deepEqual(new PolicyStore(store.reopen()).get(did(1)), second);
  });

  test('rules are stored whole and certified; a policy without them has no rules key at all (old certificates stay as they were)', () => {
    const store = policies();
    const rules: PolicyRules = { run_command: { default: 'ask', rules: [{ effect: 'deny', match: { argv: ['rm', '*'] }, note: 'no deletes' }] } };
    const withRules = store.policies.set(did(1), { ...choice, rules }, 1_000);
    assert.deepEqual(withRules.rules, rules);
    const restarted = new PolicyStore(store.reopen());
    assert.deepEqual(restarted.get(did(1))!.rules, rules);
    const removed = restarted.set(did(1), choice, 2_000);
    assert.equal('rules' in removed, false, 'null removes them, and the policy has no rules key');
  });

  test('a policy for an agent the broker does not know is refused by the database', () => {
    assert.throws(() => policies().policies.set(did(7), choice, 1_000), /FOREIGN KEY/);
  });

  test('a write rolled back by the caller leaves the stored policy readable as it was', () => {
    const { db, policies: store } = policies();
    const first = store.set(did(1), choice, 1_000);
    assert.throws(() =>
      db.transaction(() => {
        store.set(did(1), { ...choice, maxTokensPerDay: 5 }, 2_000);
        throw new Error('the certificate could not be signed');
      })(),
    );
    assert.deepEqual(store.get(did(1)), first);
  });
});
