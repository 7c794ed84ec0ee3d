// Issue 19 finding 1: a downgrade across generations. After rotations A→B→C, a peer that never saw B and
// then trusted C (serial 3) must refuse an attacker holding A's key and A's still-valid serial-1
// certificate: the agent (state on disk, across restarts) and the user (for the life of its session).
// Real objects: the agent's BrokerTrust over a real state directory, the user's authenticateUser against
// in-process Challenger responders that play the honest broker C and the attacker A.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { after, describe, test } from 'node:test';
import { BrokerTrust } from '../../../agent/broker-trust';
import { AgentStateDir } from '../../../agent/state-dir';
import { certifyBroker, learnFromChain, NOTHING_LEARNT, verifyBrokerChain, type LearntRevocations } from '../../../core/authority/broker-chain';
import { TrustMemory } from '../../../core/authority/trust-memory';
import { BUDGETS } from '../../../core/budgets';
import { ChallengeResponder, IdType, SecretIdentity } from '../../../core/identity';
import { USER_AUTH, type UserGrant } from '../../../core/rpc/user-auth';
import { authenticateUser } from '../../../core/rpc/user-session';
import { BrokerAuthority } from '../../../core/wire/authority';

const DAY = 24 * 60 * 60_000;
const root = SecretIdentity.generate(IdType.Organization);
const [a, b, c] = [0, 1, 2].map(() => SecretIdentity.generate(IdType.Machine)) as [SecretIdentity, SecretIdentity, SecretIdentity];

/** The chain generation `serial` presents: A (1, no predecessor), B (2, supersedes A), C (3, supersedes B). All still valid. */
function chainOf(serial: 1 | 2 | 3, revocations: BrokerAuthority['revocations'] = []): BrokerAuthority {
  const [broker, former] = serial === 1 ? [a, null] : serial === 2 ? [b, a] : [c, b];
  const now = Date.now();
  const certificate = certifyBroker(root, {
    serial,
    broker: broker.id,
    issuedAt: now - DAY,
    expiresAt: now + DAY,
    supersedes: former && { id: former.id, delegationsValidUntil: now },
  });
  return { root: root.id.bytes, certificate, revocations };
}

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function agentTrust(): BrokerTrust {
  const dir = mkdtempSync(join(tmpdir(), 'downgrade-agent-'));
  dirs.push(dir);
  const state = new AgentStateDir(dir);
  state.create({ brokerDid: root.did, trustOnFirstUse: false, pinnedAt: Date.now() });
  return new BrokerTrust(state, pino({ level: 'silent' }), 30_000);
}

/** What an agent's handshake does: check, and learn what the accepted chain teaches before co-signing. */
function handshake(trust: BrokerTrust, broker: SecretIdentity, authority: BrokerAuthority): string | null {
  const accepted = trust.check(broker.id, authority);
  if (!accepted.ok) return accepted.message;
  trust.learn(broker.id, accepted.chain, accepted.migrateTo);
  return null;
}

/** A broker's side of the user handshake, in process: it certifies a role and presents `authority`. */
function userBroker(broker: SecretIdentity, authority: BrokerAuthority) {
  let responder: ChallengeResponder | undefined;
  return async (method: string, params: unknown): Promise<unknown> => {
    const challenge = new Uint8Array(Buffer.from((params as { challenge: string }).challenge, 'base64'));
    if (method === 'vaultysclaw/session/init') {
      const grant: UserGrant = { role: 'owner', brokerName: 'test', authority };
      responder = new ChallengeResponder({ identity: broker, ...USER_AUTH, admit: () => ({ ok: true, value: { metadata: grant } }) });
      const accepted = responder.accept(challenge);
      if (!accepted.ok) throw new Error(accepted.message);
      return { challenge: Buffer.from(accepted.value.step1).toString('base64') };
    }
    const done = responder!.complete(challenge);
    if (!done.ok) throw new Error(done.message);
    const now = Date.now();
    return { user: { did: done.value.initiator.did, name: 'u', role: 'owner', roleSetBy: null, invitedBy: null, removed: false, createdAt: now, lastSeen: now } };
  };
}

describe('no downgrade across broker generations (issue 19 #1)', () => {
  test('an agent that trusted C (serial 3) without seeing B refuses A and its valid serial-1 certificate, also after a restart', () => {
    const trust = agentTrust();
    assert.equal(handshake(trust, c, chainOf(3)), null, 'C is certified by the pinned root');
    const refused = handshake(trust, a, chainOf(1));
    assert.match(refused ?? 'accepted', /^downgrade: broker certificate serial 1 .* is older than serial 3/);
    // The state directory remembers: a restarted agent refuses A too, and still takes C.
    const dir = dirs[dirs.length - 1]!;
    const restarted = new BrokerTrust(new AgentStateDir(dir), pino({ level: 'silent' }), 30_000);
    assert.match(handshake(restarted, a, chainOf(1)) ?? 'accepted', /^downgrade: /);
    assert.equal(handshake(restarted, c, chainOf(3)), null);
  });

  test('every id the agent saw replaced is refused, not only the one the newest certificate names', () => {
    const trust = agentTrust();
    assert.equal(handshake(trust, a, chainOf(1)), null);
    assert.equal(handshake(trust, c, chainOf(3)), null);
    // C names only B as replaced: B is superseded, and A, its own broker before, is refused by its lower serial.
    assert.match(handshake(trust, b, chainOf(2)) ?? 'accepted', /^superseded: /);
    assert.match(handshake(trust, a, chainOf(1)) ?? 'accepted', /^downgrade: /);
  });

  test('a user who trusted C in this session refuses A on the next connection of the session', async () => {
    const memory = new TrustMemory();
    const user = SecretIdentity.generate(IdType.Person);
    await authenticateUser(userBroker(c, chainOf(3)), user, root.did, { name: 'u' }, memory);
    await assert.rejects(
      authenticateUser(userBroker(a, chainOf(1)), user, root.did, { name: 'u' }, memory),
      /downgrade: broker certificate serial 1 .* is older than serial 3.*; the broker is not the pinned/,
    );
  });

  test('without an explicit memory, a process keeps one for its session (CLI run, extension host)', async () => {
    const user = SecretIdentity.generate(IdType.Person);
    await authenticateUser(userBroker(c, chainOf(3)), user, root.did, { name: 'u' });
    await assert.rejects(authenticateUser(userBroker(a, chainOf(1)), user, root.did, { name: 'u' }), /downgrade: /);
  });

  test(`BUDGETS.supersededBrokerIds: the newest ${BUDGETS.supersededBrokerIds.limit} replaced ids are kept, the oldest dropped (its lower serial still refuses it)`, () => {
    const limit = BUDGETS.supersededBrokerIds.limit;
    const ids = Array.from({ length: limit + 2 }, () => SecretIdentity.generate(IdType.Machine));
    let learnt: LearntRevocations = NOTHING_LEARNT;
    const now = Date.now();
    ids.forEach((broker, i) => {
      const authority = {
        root: root.id.bytes,
        certificate: certifyBroker(root, {
          serial: i + 1,
          broker: broker.id,
          issuedAt: now - DAY,
          expiresAt: now + DAY,
          supersedes: i === 0 ? null : { id: ids[i - 1]!.id, delegationsValidUntil: now },
        }),
        revocations: [],
      };
      const chain = verifyBrokerChain(authority, { pinnedRoot: root.did, broker: broker.id, now, clockSkewMs: 0, learnt });
      assert.ok(chain.ok, chain.ok ? '' : chain.message);
      learnt = learnFromChain(learnt, chain.value) ?? learnt;
      // Up to the bound every replaced id is kept; at the bound + 1 the oldest goes.
      assert.equal(learnt.superseded.size, Math.min(i, limit));
    });
    assert.equal(learnt.superseded.has(ids[0]!.did), false, 'the oldest was dropped at the bound + 1');
    assert.equal(learnt.superseded.has(ids[limit]!.did), true);
    const old = { root: root.id.bytes, certificate: certifyBroker(root, { serial: 1, broker: ids[0]!.id, issuedAt: now - DAY, expiresAt: now + DAY, supersedes: null }), revocations: [] };
    const back = verifyBrokerChain(old, { pinnedRoot: root.did, broker: ids[0]!.id, now, clockSkewMs: 0, learnt });
    assert.equal(back.ok ? 'accepted' : back.reason, 'downgrade');
  });

  test(`BUDGETS.brokerRevocations: a handshake presents at most ${BUDGETS.brokerRevocations.limit} revocations`, () => {
    const envelope = { payload: new Uint8Array(1), signature: new Uint8Array(1) };
    const at = (n: number) => BrokerAuthority.safeParse({ ...chainOf(1), revocations: Array.from({ length: n }, () => envelope) }).success;
    assert.equal(at(BUDGETS.brokerRevocations.limit), true);
    assert.equal(at(BUDGETS.brokerRevocations.limit + 1), false);
  });
});
