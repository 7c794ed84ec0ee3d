import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AgentRegistry } from '../../../broker/store/agent-registry';
import { PolicyStore, type PolicyChoice } from '../../../broker/store/policy-store';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import type { AgentHello, Confinement } from '../../../core/wire/policy';
import { backends } from './sql/support/backends';
import { did } from './support/temp-database';

const hello: AgentHello = { name: 'builder', requested: ['read_file'], agentVersion: '0.3.0' };
const POLICY: PolicyChoice = {
  capabilities: ['read_file'],
  approvalRequired: [],
  maxTokensPerDay: 0,
  maxRequestsPerHour: 10,
  validForMs: 60_000,
  allowedDomains: [],
  commandLimits: MAX_COMMAND_LIMITS,
  rules: null,
};
const sandboxed: Confinement = { mode: 'sandboxed', detail: 'bwrap 0.8.0', ceilings: MAX_COMMAND_LIMITS };

for (const backend of backends()) {
  describe(`AgentRegistry on ${backend.name}`, () => {
    test('an unknown agent becomes a pending registration; a known one is not created again', async () => {
      const agents = new AgentRegistry(await backend.open());
      const first = await agents.recordSeen(did(1), 'AQ==', hello, 10);
      assert.equal(first.created, true);
      assert.deepEqual(first.record, {
        did: did(1), idBase64: 'AQ==', name: 'builder', requested: ['read_file'], status: 'pending', statusReason: null, confinement: null, firstSeen: 10, lastSeen: 10, removedAt: null,
      });
      assert.equal((await agents.recordSeen(did(1), 'AQ==', hello, 20)).created, false);
      assert.equal(await agents.countPending(), 1);
    });

    test('rejection and revocation are sticky: the agent coming back, even with a new hello, stays refused', async () => {
      const agents = new AgentRegistry(await backend.open());
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      await agents.setStatus(did(1), 'rejected', 'unknown host');
      const again = await agents.recordSeen(did(1), 'AQ==', { ...hello, name: 'renamed', requested: ['run_command'] }, 20);
      assert.equal(again.created, false);
      assert.equal(again.record.status, 'rejected');
      assert.equal(again.record.statusReason, 'unknown host');
      assert.equal(again.record.name, 'renamed');
      assert.equal(await agents.countPending(), 0);
    });

    test('an unchanged reconnect is kept in memory until flushLastSeen writes it; a restarted broker reads it back after the flush', async () => {
      const storage = await backend.open();
      const agents = new AgentRegistry(storage);
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      await agents.recordSeen(did(1), 'AQ==', hello, 50);
      assert.equal((await agents.get(did(1)))!.lastSeen, 50);
      assert.equal((await new AgentRegistry(storage).get(did(1)))!.lastSeen, 10, 'not written yet');
      await agents.flushLastSeen();
      assert.equal((await new AgentRegistry(storage).get(did(1)))!.lastSeen, 50);
    });

    test('a flush writes every kept last_seen in one statement, however many agents reconnected (a reconnect storm is not one round trip per agent)', async () => {
      const storage = await backend.open();
      const agents = new AgentRegistry(storage);
      /** The write statements and transactions one flush of `count` reconnected agents costs (the metrics' timings count them). */
      const flushCost = async (from: number, count: number): Promise<string[]> => {
        for (let i = from; i < from + count; i++) await agents.recordSeen(did(i), 'AQ==', hello, 10);
        for (let i = from; i < from + count; i++) await agents.recordSeen(did(i), 'AQ==', hello, 50 + i);
        const ops: string[] = [];
        const unsubscribe = storage.onTiming((op) => ops.push(op));
        try {
          await agents.flushLastSeen();
        } finally {
          unsubscribe();
        }
        return ops;
      };
      const one = await flushCost(1, 1);
      const many = await flushCost(100, 200);
      assert.ok(one.includes('run'), `the flush is timed: ${one.join(', ')}`);
      assert.deepEqual(many, one, 'as many statements for 200 agents as for one');
      const fresh = new AgentRegistry(storage);
      for (const i of [1, 100, 299]) assert.equal((await fresh.get(did(i)))!.lastSeen, 50 + i, `agent ${i}'s own time is written`);
    });

    test('a flush never moves last_seen back: a changed hello written after the time kept in memory stays', async () => {
      const storage = await backend.open();
      const agents = new AgentRegistry(storage);
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      await agents.recordSeen(did(1), 'AQ==', hello, 50);
      // Another registry (another broker on the same database) writes a later time while 50 waits in memory.
      await new AgentRegistry(storage).recordSeen(did(1), 'AQ==', { ...hello, name: 'renamed' }, 90);
      await agents.flushLastSeen();
      assert.equal((await new AgentRegistry(storage).get(did(1)))!.lastSeen, 90);
    });

    test('a changed hello is written at once, its confinement included, and a restarted broker reads it', async () => {
      const storage = await backend.open();
      const agents = new AgentRegistry(storage);
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      await agents.recordSeen(did(1), 'AQ==', { ...hello, confinement: sandboxed }, 20);
      const reread = (await new AgentRegistry(storage).get(did(1)))!;
      assert.deepEqual(reread.confinement, sandboxed);
      assert.equal(reread.lastSeen, 20);
    });

    test('a confinement row that no longer parses (a tampered data directory) reads as unknown, not as what it claims', async () => {
      const storage = await backend.open();
      await new AgentRegistry(storage).recordSeen(did(1), 'AQ==', { ...hello, confinement: sandboxed }, 10);
      const tamper = (confinement: string) => storage.db.updateTable('agents').set({ confinement }).where('did', '=', did(1)).execute();
      await tamper(JSON.stringify({ ...sandboxed, mode: 'trust-me' }));
      assert.equal((await new AgentRegistry(storage).get(did(1)))!.confinement, null);
      await tamper('{not json');
      assert.equal((await new AgentRegistry(storage).get(did(1)))!.confinement, null);
    });

    test('pending registrations first seen by a time are removed and returned; approved ones and later ones stay', async () => {
      const agents = new AgentRegistry(await backend.open());
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      await agents.recordSeen(did(2), 'Ag==', { ...hello, name: 'two' }, 10);
      await agents.recordSeen(did(3), 'Aw==', { ...hello, name: 'three' }, 30);
      await agents.setStatus(did(2), 'approved', null);
      assert.deepEqual(await agents.removePendingSeenBy(20), [{ did: did(1), name: 'builder' }]);
      assert.equal(await agents.get(did(1)), undefined);
      assert.equal((await agents.get(did(2)))!.status, 'approved');
      assert.equal(await agents.countPending(), 1);
    });

    test('pages list agents first seen first (ties in registration order), all of them or those of one status; counts by status', async () => {
      const agents = new AgentRegistry(await backend.open());
      for (const n of [3, 1, 2]) await agents.recordSeen(did(n), 'AA==', { ...hello, name: `a${n}` }, n * 10);
      for (const n of [6, 5, 4]) await agents.recordSeen(did(n), 'AA==', { ...hello, name: `a${n}` }, 40);
      await agents.setStatus(did(2), 'approved', null);
      const names = async (status?: 'approved' | 'pending') => (await agents.page(status, { limit: 10 }, (r) => r.name)).items;
      assert.deepEqual(await names(), ['a1', 'a2', 'a3', 'a6', 'a5', 'a4']);
      assert.deepEqual(await names('approved'), ['a2']);
      assert.deepEqual(await names('pending'), ['a1', 'a3', 'a6', 'a5', 'a4']);
      const first = await agents.page(undefined, { limit: 4 }, (r) => r.name);
      assert.deepEqual(first.items, ['a1', 'a2', 'a3', 'a6']);
      assert.deepEqual((await agents.page(undefined, { limit: 4, cursor: first.nextCursor! }, (r) => r.name)).items, ['a5', 'a4']);
      const counts = await agents.countByStatus();
      assert.deepEqual(counts.sort((a, b) => a.status.localeCompare(b.status)), [{ status: 'approved', n: 1 }, { status: 'pending', n: 5 }]);
    });

    test('hide takes only a revoked or rejected agent out of the pages; its row (and so its status) stays readable', async () => {
      const agents = new AgentRegistry(await backend.open());
      for (const n of [1, 2, 3, 4]) await agents.recordSeen(did(n), 'AA==', { ...hello, name: `a${n}` }, n * 10);
      await agents.setStatus(did(2), 'approved', null);
      await agents.setStatus(did(3), 'revoked', 'gone');
      await agents.setStatus(did(4), 'rejected', 'unknown');
      assert.equal(await agents.hide(did(1), 100), false, 'pending stays');
      assert.equal(await agents.hide(did(2), 100), false, 'approved stays');
      assert.equal(await agents.hide(did(3), 100), true);
      assert.equal(await agents.hide(did(4), 100), true);
      assert.equal(await agents.hide(did(3), 200), false, 'already removed');
      const names = async (status?: 'revoked') => (await agents.page(status, { limit: 10 }, (r) => r.name)).items;
      assert.deepEqual(await names(), ['a1', 'a2']);
      assert.deepEqual(await names('revoked'), []);
      assert.deepEqual([(await agents.get(did(3)))!.status, (await agents.get(did(3)))!.removedAt], ['revoked', 100]);
      await agents.recordSeen(did(3), 'AA==', { ...hello, name: 'a3-again' }, 300);
      assert.equal((await agents.get(did(3)))!.status, 'revoked', 'a removed key that says hello again is still revoked, never pending');
    });

    test('a decision whose policy write throws leaves no write behind: the agent stays pending, with no policy', async () => {
      const storage = await backend.open();
      const agents = new AgentRegistry(storage);
      const policies = new PolicyStore(storage);
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      // A value JSON cannot write fails the policy's upsert after the status update ran, inside the one transaction.
      const unwritable = { ...POLICY, capabilities: [1n] } as unknown as PolicyChoice;
      await assert.rejects(agents.decidePending(did(1), { status: 'approved', policies, policy: unwritable, now: 20 }), /BigInt/);
      assert.equal((await agents.get(did(1)))!.status, 'pending');
      assert.equal(await policies.get(did(1)), undefined);
      assert.equal((await new AgentRegistry(storage).get(did(1)))!.status, 'pending', 'rolled back in the database, not only in the cache');
    });

    test('a registration is decided once: the second decision changes nothing and says so', async () => {
      const storage = await backend.open();
      const agents = new AgentRegistry(storage);
      const policies = new PolicyStore(storage);
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      assert.equal(await agents.decidePending(did(1), { status: 'rejected', reason: 'unknown host' }), true);
      assert.equal(await agents.decidePending(did(1), { status: 'approved', policies, policy: POLICY, now: 20 }), false);
      assert.deepEqual([(await agents.get(did(1)))!.status, await policies.get(did(1))], ['rejected', undefined]);
    });

    test('an approval writes the first policy with the status; a revocation ends it once', async () => {
      const storage = await backend.open();
      const agents = new AgentRegistry(storage);
      const policies = new PolicyStore(storage);
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      assert.equal(await agents.decidePending(did(1), { status: 'approved', policies, policy: POLICY, now: 20 }), true);
      assert.deepEqual([(await agents.get(did(1)))!.status, (await policies.get(did(1)))?.policyVersion], ['approved', 1]);
      assert.equal(await agents.revoke(did(1), 'stolen laptop'), true);
      assert.equal(await agents.revoke(did(1), 'again'), false);
      assert.deepEqual([(await agents.get(did(1)))!.status, (await agents.get(did(1)))!.statusReason], ['revoked', 'stolen laptop']);
    });

    test('concurrent decisions of one registration (two pooled connections on PostgreSQL): exactly one wins, and what is stored is the winner\'s', async () => {
      const storage = await backend.open();
      const policies = new PolicyStore(storage);
      for (let round = 1; round <= 10; round++) {
        const agents = new AgentRegistry(storage);
        await agents.recordSeen(did(round), 'AQ==', hello, 10);
        const [approved, rejected] = await Promise.all([
          agents.decidePending(did(round), { status: 'approved', policies, policy: POLICY, now: 20 }),
          agents.decidePending(did(round), { status: 'rejected', reason: 'unknown host' }),
        ]);
        assert.equal(Number(approved) + Number(rejected), 1, `round ${round}: one winner`);
        const stored = (await new AgentRegistry(storage).get(did(round)))!;
        assert.equal(stored.status, approved ? 'approved' : 'rejected');
        assert.equal((await new PolicyStore(storage).get(did(round)))?.policyVersion, approved ? 1 : undefined, 'a policy only with the approval');
        const [first, second] = await Promise.all([agents.revoke(did(round), 'one'), agents.revoke(did(round), 'two')]);
        assert.equal(Number(first) + Number(second), approved ? 1 : 0, 'a rejected agent is not revoked; an approved one once');
      }
    });

    test('two handshakes of one new agent at once create one registration, and say so once', async () => {
      const storage = await backend.open();
      const results = await Promise.all([new AgentRegistry(storage), new AgentRegistry(storage)].map((agents) => agents.recordSeen(did(1), 'AQ==', hello, 10)));
      assert.deepEqual(results.map((r) => r.created).sort(), [false, true]);
      assert.equal(await new AgentRegistry(storage).countPending(), 1);
    });

    test('a revocation racing a read never leaves the agent cached as it was before', async () => {
      const storage = await backend.open();
      const agents = new AgentRegistry(storage);
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      await agents.setStatus(did(1), 'approved', null);
      // The read starts first and resolves last: it holds the row from before the revocation.
      const [, revoked] = await Promise.all([agents.get(did(1)), agents.revoke(did(1), 'gone')]);
      assert.equal(revoked, true);
      assert.equal((await agents.get(did(1)))!.status, 'revoked');
    });

    test('a NUL in a peer-given name or reason is refused before the database, the same on both backends; nothing is written', async () => {
      const storage = await backend.open();
      const agents = new AgentRegistry(storage);
      await assert.rejects(agents.recordSeen(did(1), 'AQ==', { ...hello, name: 'build\u0000er' }, 10), /an agent name contains a NUL character/);
      assert.equal(await agents.get(did(1)), undefined);
      await agents.recordSeen(did(1), 'AQ==', hello, 10);
      await assert.rejects(agents.recordSeen(did(1), 'AQ==', { ...hello, name: '\u0000' }, 20), /an agent name contains a NUL character/);
      await assert.rejects(agents.decidePending(did(1), { status: 'rejected', reason: 'no\u0000' }), /a status reason contains a NUL character/);
      assert.equal((await agents.get(did(1)))!.status, 'pending');
      await agents.setStatus(did(1), 'approved', null);
      await assert.rejects(agents.revoke(did(1), '\u0000gone'), /a status reason contains a NUL character/);
      await assert.rejects(agents.setStatus(did(1), 'revoked', 'x\u0000'), /a status reason contains a NUL character/);
      const stored = (await new AgentRegistry(storage).get(did(1)))!;
      assert.deepEqual([stored.name, stored.status, stored.statusReason], ['builder', 'approved', null]);
      // Text that is not NUL but near it (other control characters, astral letters) is stored as given on both.
      await agents.recordSeen(did(1), 'AQ==', { ...hello, name: 'b\u0001\u001f\u{1F600}' }, 30);
      assert.equal((await new AgentRegistry(storage).get(did(1)))!.name, 'b\u0001\u001f\u{1F600}');
    });
  });
}
