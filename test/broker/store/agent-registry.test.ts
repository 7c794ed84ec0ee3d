import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AgentRegistry } from '../../../broker/store/agent-registry';
import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import type { AgentHello, Confinement } from '../../../core/wire/policy';
import { did, tempBrokerDatabase } from './support/temp-database';

const hello: AgentHello = { name: 'builder', requested: ['read_file'], agentVersion: '0.3.0' };
const sandboxed: Confinement = { mode: 'sandboxed', detail: 'bwrap 0.8.0', ceilings: MAX_COMMAND_LIMITS };

describe('AgentRegistry (real SQLite file)', () => {
  test('an unknown agent becomes a pending registration; a known one is not created again', () => {
    const { db } = tempBrokerDatabase();
    const agents = new AgentRegistry(db);
    const first = agents.recordSeen(did(1), 'AQ==', hello, 10);
    assert.equal(first.created, true);
    assert.deepEqual(first.record, {
      did: did(1), idBase64: 'AQ==', name: 'builder', requested: ['read_file'], status: 'pending', statusReason: null, confinement: null, firstSeen: 10, lastSeen: 10, removedAt: null,
    });
    assert.equal(agents.recordSeen(did(1), 'AQ==', hello, 20).created, false);
    assert.equal(agents.countPending(), 1);
  });

  test('rejection and revocation are sticky: the agent coming back, even with a new hello, stays refused', () => {
    const { db } = tempBrokerDatabase();
    const agents = new AgentRegistry(db);
    agents.recordSeen(did(1), 'AQ==', hello, 10);
    agents.setStatus(did(1), 'rejected', 'unknown host');
    const again = agents.recordSeen(did(1), 'AQ==', { ...hello, name: 'renamed', requested: ['run_command'] }, 20);
    assert.equal(again.created, false);
    assert.equal(again.record.status, 'rejected');
    assert.equal(again.record.statusReason, 'unknown host');
    assert.equal(again.record.name, 'renamed');
    assert.equal(agents.countPending(), 0);
  });

  test('an unchanged reconnect is kept in memory until flushLastSeen writes it; a restart after the flush reads it back', () => {
    const store = tempBrokerDatabase();
    const agents = new AgentRegistry(store.db);
    agents.recordSeen(did(1), 'AQ==', hello, 10);
    agents.recordSeen(did(1), 'AQ==', hello, 50);
    assert.equal(agents.get(did(1))!.lastSeen, 50);
    assert.equal(new AgentRegistry(store.db).get(did(1))!.lastSeen, 10, 'not written yet');
    agents.flushLastSeen();
    assert.equal(new AgentRegistry(store.reopen()).get(did(1))!.lastSeen, 50);
  });

  test('a changed hello is written at once, its confinement included, and survives a restart', () => {
    const store = tempBrokerDatabase();
    const agents = new AgentRegistry(store.db);
    agents.recordSeen(did(1), 'AQ==', hello, 10);
    agents.recordSeen(did(1), 'AQ==', { ...hello, confinement: sandboxed }, 20);
    const reread = new AgentRegistry(store.reopen()).get(did(1))!;
    assert.deepEqual(reread.confinement, sandboxed);
    assert.equal(reread.lastSeen, 20);
  });

  test('a confinement row that no longer parses (a tampered data directory) reads as unknown, not as what it claims', () => {
    const { db } = tempBrokerDatabase();
    new AgentRegistry(db).recordSeen(did(1), 'AQ==', { ...hello, confinement: sandboxed }, 10);
    db.prepare('UPDATE agents SET confinement = ? WHERE did = ?').run(JSON.stringify({ ...sandboxed, mode: 'trust-me' }), did(1));
    assert.equal(new AgentRegistry(db).get(did(1))!.confinement, null);
    db.prepare('UPDATE agents SET confinement = ? WHERE did = ?').run('{not json', did(1));
    assert.equal(new AgentRegistry(db).get(did(1))!.confinement, null);
  });

  test('pending registrations first seen by a time are removed and returned; approved ones and later ones stay', () => {
    const { db } = tempBrokerDatabase();
    const agents = new AgentRegistry(db);
    agents.recordSeen(did(1), 'AQ==', hello, 10);
    agents.recordSeen(did(2), 'Ag==', { ...hello, name: 'two' }, 10);
    agents.recordSeen(did(3), 'Aw==', { ...hello, name: 'three' }, 30);
    agents.setStatus(did(2), 'approved', null);
    assert.deepEqual(agents.removePendingSeenBy(20), [{ did: did(1), name: 'builder' }]);
    assert.equal(agents.get(did(1)), undefined);
    assert.equal(agents.get(did(2))!.status, 'approved');
    assert.equal(agents.countPending(), 1);
  });

  test('pages list agents first seen first, all of them or those of one status', () => {
    const { db } = tempBrokerDatabase();
    const agents = new AgentRegistry(db);
    for (const n of [3, 1, 2]) agents.recordSeen(did(n), 'AA==', { ...hello, name: `a${n}` }, n * 10);
    agents.setStatus(did(2), 'approved', null);
    const names = (status?: 'approved' | 'pending') => agents.page(status, { limit: 10 }, (r) => r.name).items;
    assert.deepEqual(names(), ['a1', 'a2', 'a3']);
    assert.deepEqual(names('approved'), ['a2']);
    assert.deepEqual(names('pending'), ['a1', 'a3']);
  });

  test('hide takes only a revoked or rejected agent out of the pages; its row (and so its status) stays readable', () => {
    const { db } = tempBrokerDatabase();
    const agents = new AgentRegistry(db);
    for (const n of [1, 2, 3, 4]) agents.recordSeen(did(n), 'AA==', { ...hello, name: `a${n}` }, n * 10);
    agents.setStatus(did(2), 'approved', null);
    agents.setStatus(did(3), 'revoked', 'gone');
    agents.setStatus(did(4), 'rejected', 'unknown');
    assert.equal(agents.hide(did(1), 100), false, 'pending stays');
    assert.equal(agents.hide(did(2), 100), false, 'approved stays');
    assert.equal(agents.hide(did(3), 100), true);
    assert.equal(agents.hide(did(4), 100), true);
    assert.equal(agents.hide(did(3), 200), false, 'already removed');
    const names = (status?: 'revoked') => agents.page(status, { limit: 10 }, (r) => r.name).items;
    assert.deepEqual(names(), ['a1', 'a2']);
    assert.deepEqual(names('revoked'), []);
    assert.deepEqual([agents.get(did(3))!.status, agents.get(did(3))!.removedAt], ['revoked', 100]);
    agents.recordSeen(did(3), 'AA==', { ...hello, name: 'a3-again' }, 300);
    assert.equal(agents.get(did(3))!.status, 'revoked', 'a removed key that says hello again is still revoked, never pending');
  });

  test('a transaction that throws leaves no write behind, and the status read after it is the stored one', () => {
    const { db } = tempBrokerDatabase();
    const agents = new AgentRegistry(db);
    agents.recordSeen(did(1), 'AQ==', hello, 10);
    assert.throws(() =>
      agents.transaction(() => {
        agents.setStatus(did(1), 'approved', null);
        throw new Error('policy write failed');
      }),
    );
    assert.equal(agents.get(did(1))!.status, 'pending');
  });
});
