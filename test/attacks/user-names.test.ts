/**
 * Threat "what a reviewer sees can be spoofed" (issue 13, finding 11): a user renamed themself to another
 * user's name at any login, so an approval or an intent read as someone else's. Against the real broker
 * process: a name is set once at enrolment, unique under nameKey (case, NFKC, invisible characters), bounded
 * in bytes (BUDGETS.userNameBytes), and changed only by an admin.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import { RpcErrorCode } from '../../core/rpc/methods';
import type { BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { call, connectAs, connectAttempt, expectRpcError, joinAs, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();
let broker: BrokerProcess;
let owner: Member;
let alice: Member;
let mallory: Member;
before(async () => {
  broker = await started.broker();
  owner = ownerOf(broker);
  alice = await joinAs(broker, owner, 'reviewer', 'alice');
  mallory = await joinAs(broker, owner, 'viewer', 'mallory');
});
after(async () => {
  for (const m of [alice, mallory]) m?.client.close();
  await started.cleanup();
});

const nameOf = async (did: string) => (await call(owner, 'usersList', {})).items.find((u) => u.did === did)?.name;

describe('Name spoofing: a name is set once, at enrolment', () => {
  test("a user who logs in again under another user's name keeps their own name", async () => {
    const again = await connectAs(broker, mallory.identity, 'alice');
    try {
      assert.equal(again.user?.name, 'mallory', 'the session reports the name the user enrolled with');
      assert.equal(await nameOf(mallory.did), 'mallory');
      assert.equal(await nameOf(alice.did), 'alice');
    } finally {
      again.close();
    }
  });

  for (const [what, name] of [
    ['the same name', 'alice'],
    ['another case', 'ALICE'],
    ['a zero-width space inside', 'al\u200Bice'],
    ['a right-to-left override', '\u202Ealice'],
    ['full-width letters', 'ａｌｉｃｅ'],
    ['surrounding spaces', '  alice '],
  ] as const) {
    test(`a newcomer cannot enrol under a taken name with ${what}`, async () => {
      const { token } = await call(owner, 'invitationsCreate', { role: 'viewer' });
      await expectRpcError(connectAttempt(broker, SecretIdentity.generate(IdType.Person), name, token), RpcErrorCode.Unauthenticated, /the name ".*" is taken on this broker/);
      const invitation = (await call(owner, 'invitationsList', {})).items.find((i) => i.state === 'open' && i.createdBy === owner.did);
      assert.ok(invitation, 'a refused name does not consume the invitation');
      await call(owner, 'invitationsRevoke', { id: invitation.id });
    });
  }

  test('a stranger without a valid invitation does not learn whether a name is taken', async () => {
    await expectRpcError(connectAttempt(broker, SecretIdentity.generate(IdType.Person), 'alice'), RpcErrorCode.Unauthenticated, /ask an admin for an invitation/);
    await expectRpcError(connectAttempt(broker, SecretIdentity.generate(IdType.Person), 'alice', 'A'.repeat(43)), RpcErrorCode.Unauthenticated, /the invitation is unknown, used, revoked or expired/);
  });

  test('a homoglyph name (Cyrillic а) enrols, and is told apart by its DID wherever it is shown', async () => {
    const twin = await joinAs(broker, owner, 'viewer', '\u0430lice');
    try {
      const users = await call(owner, 'usersList', {});
      assert.equal(users.items.filter((u) => u.name === 'alice' || u.name === '\u0430lice').length, 2);
      assert.notEqual(twin.did, alice.did);
    } finally {
      twin.client.close();
    }
  });
});

describe('only an admin renames, to the same rules', () => {
  test("the user themself may not; an admin may not take another user's name; an admin renames", async () => {
    await expectRpcError(call(mallory, 'usersRename', { did: mallory.did, name: 'alice2' }), RpcErrorCode.Forbidden, /role viewer may not call vaultysclaw\/users\/rename/);
    await expectRpcError(call(owner, 'usersRename', { did: mallory.did, name: 'Alice' }), RpcErrorCode.Conflict, /the name "Alice" is taken/);
    assert.equal((await call(owner, 'usersRename', { did: mallory.did, name: 'mallory the viewer' })).name, 'mallory the viewer');
    assert.equal(await nameOf(mallory.did), 'mallory the viewer');
  });
});

describe('BUDGETS.userNameBytes: a name is bounded in bytes of UTF-8', () => {
  const limit = BUDGETS.userNameBytes.limit;
  const atBound = 'é'.repeat(limit / 2); // two bytes each: at the bound, half as many characters

  test(`${limit} bytes enrol, ${limit + 1} bytes are refused at the handshake`, async () => {
    assert.equal(Buffer.byteLength(atBound), limit);
    const fits = await joinAs(broker, owner, 'viewer', atBound);
    fits.client.close();
    assert.equal(await nameOf(fits.did), atBound);
    const { token } = await call(owner, 'invitationsCreate', { role: 'viewer' });
    await expectRpcError(
      connectAttempt(broker, SecretIdentity.generate(IdType.Person), `${atBound}a`, token),
      RpcErrorCode.Unauthenticated,
      new RegExp(`name: a name is at most ${limit} bytes of UTF-8`),
    );
  });

  test(`a rename is bounded the same way (${limit} bytes accepted, ${limit + 1} refused as bad params)`, async () => {
    const target = await joinAs(broker, owner, 'viewer', 'to-rename');
    target.client.close();
    assert.equal((await call(owner, 'usersRename', { did: target.did, name: 'ü'.repeat(limit / 2) })).name, 'ü'.repeat(limit / 2));
    await expectRpcError(call(owner, 'usersRename', { did: target.did, name: `${'ü'.repeat(limit / 2)}x` }), RpcErrorCode.InvalidParams, new RegExp(`at most ${limit} bytes`));
  });
});

describe('a name holding U+0000: PostgreSQL cannot store it where SQLite can, so it is refused at the edge on both', () => {
  test('refused at the handshake and as a rename, with why; the name stays as it was', async () => {
    const { token } = await call(owner, 'invitationsCreate', { role: 'viewer' });
    await expectRpcError(connectAttempt(broker, SecretIdentity.generate(IdType.Person), 'bo\u0000b', token), RpcErrorCode.Unauthenticated, /name: must not contain a NUL character/);
    const target = await joinAs(broker, owner, 'viewer', 'nul-target');
    target.client.close();
    await expectRpcError(call(owner, 'usersRename', { did: target.did, name: 'nul\u0000target' }), RpcErrorCode.InvalidParams, /must not contain a NUL character/);
    assert.equal(await nameOf(target.did), 'nul-target');
  });
});
