import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PolicyStore, type PolicyChoice } from '../../../broker/store/policy-store';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import type { PolicyRules } from '../../../core/wire/policy-rules';
import { backends, type Backend } from './sql/support/backends';
import { sendIntents } from './support/sent-intents';
import { did } from './support/temp-database';

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

async function policies(backend: Backend) {
  const storage = await backend.open();
  await sendIntents(storage, [], did(1));
  return { storage, policies: new PolicyStore(storage) };
}

for (const backend of backends()) {
  describe(`PolicyStore on ${backend.name}`, () => {
    test('an agent with no policy has none', async () => {
      assert.equal(await (await policies(backend)).policies.get(did(1)), undefined);
    });

    test('a policy is stored as chosen, lists without repeats, expiring validForMs from now, at version 1', async () => {
      const { policies: store } = await policies(backend);
      assert.deepEqual(await store.set(did(1), choice, 1_000), {
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

    test('every change makes a new version and replaces the whole policy; a restarted broker reads the last one', async () => {
      const { storage, policies: store } = await policies(backend);
      await store.set(did(1), choice, 1_000);
      assert.equal((await store.get(did(1)))!.policyVersion, 1, 'read once, cached');
      const second = await store.set(did(1), { ...choice, capabilities: ['read_file'], allowedDomains: [] }, 2_000);
      assert.deepEqual([second.policyVersion, second.capabilities, second.allowedDomains, second.policyExpiresAt], [2, ['read_file'], [], 62_000]);
      assert.deepEqual(await store.get(did(1)), second, 'the cached policy follows the write');
      assert.deepEqual(await new PolicyStore(storage).get(did(1)), second);
    });

    test('rules are stored whole and certified; a policy without them has no rules key at all (old certificates stay as they were)', async () => {
      const { storage, policies: store } = await policies(backend);
      const rules: PolicyRules = { run_command: { default: 'ask', rules: [{ effect: 'deny', match: { argv: ['rm', '*'] }, note: 'no\u0000deletes' }] } };
      const withRules = await store.set(did(1), { ...choice, rules }, 1_000);
      assert.deepEqual(withRules.rules, rules);
      const restarted = new PolicyStore(storage);
      assert.deepEqual((await restarted.get(did(1)))!.rules, rules, 'stored as JSON: even a NUL in a note reads back on both backends');
      const removed = await restarted.set(did(1), choice, 2_000);
      assert.equal('rules' in removed, false, 'null removes them, and the policy has no rules key');
    });

    test('a policy for an agent the broker does not know is refused by the database', async () => {
      await assert.rejects((await policies(backend)).policies.set(did(7), choice, 1_000), /foreign key/i);
    });

    test('a write rolled back by the caller leaves the stored policy readable as it was', async () => {
      const { storage, policies: store } = await policies(backend);
      const first = await store.set(did(1), choice, 1_000);
      await assert.rejects(
        store.writing(did(1), () =>
          storage.transaction(async (trx) => {
            await store.setIn(trx, did(1), { ...choice, maxTokensPerDay: 5 }, 2_000);
            throw new Error('the certificate could not be signed');
          }),
        ),
        /could not be signed/,
      );
      assert.deepEqual(await store.get(did(1)), first);
      assert.deepEqual(await new PolicyStore(storage).get(did(1)), first);
    });

    test('a change is written only over the version it was built on', async () => {
      const { policies: store } = await policies(backend);
      await store.set(did(1), choice, 1_000);
      const next = await store.replace(did(1), { ...choice, maxTokensPerDay: 7 }, 2_000, 1);
      assert.deepEqual([next?.policyVersion, next?.maxTokensPerDay], [2, 7]);
      assert.equal(await store.replace(did(1), { ...choice, maxTokensPerDay: 9 }, 3_000, 1), undefined, 'built on version 1, which is gone');
      assert.equal((await store.get(did(1)))!.maxTokensPerDay, 7);
    });

    test('two changes made from one version at once (two pooled connections on PostgreSQL): exactly one is written, the other told', async () => {
      const { storage, policies: store } = await policies(backend);
      await store.set(did(1), choice, 1_000);
      for (let version = 1; version <= 10; version++) {
        const [a, b] = await Promise.all([
          store.replace(did(1), { ...choice, maxTokensPerDay: 100 + version }, 2_000, version),
          new PolicyStore(storage).replace(did(1), { ...choice, maxTokensPerDay: 200 + version }, 2_000, version),
        ]);
        const written = [a, b].filter((p) => p !== undefined);
        assert.equal(written.length, 1, `version ${version}: one winner`);
        assert.equal(written[0]!.policyVersion, version + 1);
        assert.deepEqual(await new PolicyStore(storage).get(did(1)), written[0], 'what is stored is the winner\'s');
        assert.deepEqual(await store.get(did(1)), written[0], 'and the cache of the loser follows it');
      }
    });
  });
}
