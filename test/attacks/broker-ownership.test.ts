/**
 * Threat "a stranger owns the control plane" (issue 13, findings 2 and 14a): on a fresh broker the users
 * table is empty until the host acts, so whoever completed a user handshake on /rpc first became a
 * permanent owner that nobody could remove. Against the real broker process, with real sockets: the first
 * owner is a principal of the host (its operator key, or a user proven over the local socket or stdio);
 * the host operator can demote and remove any owner; an invitation is revoked only by someone with
 * authority over its creator.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { BrokerClient } from '../../broker/cli/broker-client';
import { loadLocalOperator } from '../../broker/local-operator';
import { IdType, SecretIdentity } from '../../core/identity';
import { RpcErrorCode } from '../../core/rpc/methods';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { auditLines, call, connectAttempt, expectRpcError, joinAs, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const started = new Started();
after(() => started.cleanup());

const person = () => SecretIdentity.generate(IdType.Person);

describe('Owner race: the first owner of a fresh broker is a principal of the host', () => {
  test('a stranger who completes a user handshake on /rpc before the host does is refused, and never becomes a user', async () => {
    const stranger = person();
    let refusal: { code: number; message: string } | undefined;
    const broker = await started.broker({
      beforeOperator: async (fresh) => {
        refusal = await expectRpcError(
          bounded('the stranger connects', BrokerClient.connectRemote(fresh.url, fresh.did, stranger, { name: 'owner' })),
          RpcErrorCode.Unauthenticated,
          /no owner yet: its first owner is enrolled on the broker host/,
          'a network peer on a broker without an owner',
        );
      },
    });
    assert.ok(refusal, 'the stranger tried first');
    const owner = ownerOf(broker);
    const users = await call(owner, 'usersList', {});
    assert.deepEqual(
      users.items.map((u) => [u.did, u.role]),
      [[owner.did, 'owner']],
      'the only user is the host operator',
    );
    assert.ok(
      auditLines(broker.dataDir).some((l) => l.event === 'auth.refused' && /no owner yet/.test(String(l.detail))),
      'the refusal is audited with its reason',
    );
  });

  test('the first user proven over the local socket with a key of their own is the owner; a network peer after them needs an invitation', async () => {
    const hostUser = person();
    let first: BrokerClient | undefined;
    const broker = await started.broker({
      beforeOperator: async (fresh) => {
        first = await bounded('the host user connects', BrokerClient.connect(fresh.dataDir, hostUser, { name: 'host-user' }));
      },
    });
    try {
      assert.equal(first?.user?.role, 'owner');
      await expectRpcError(connectAttempt(broker, person(), 'late'), RpcErrorCode.Unauthenticated, /ask an admin for an invitation/);
    } finally {
      first?.close();
    }
  });
});

describe('the host operator can demote and remove any owner', () => {
  test('an owner enrolled first is demoted, then removed, by the host operator (recorded as who set the role); owners cannot do it to each other', async () => {
    const ownerKey = person();
    let squatter: BrokerClient | undefined;
    const broker = await started.broker({
      beforeOperator: async (fresh) => {
        squatter = await bounded('the first owner connects', BrokerClient.connect(fresh.dataDir, ownerKey, { name: 'first-owner' }));
      },
    });
    try {
      const operator = ownerOf(broker);
      assert.equal(squatter?.user?.role, 'owner');
      const squat: Member = { role: 'owner', name: 'first-owner', identity: ownerKey, client: squatter!, did: ownerKey.did };
      await expectRpcError(call(squat, 'usersSetRole', { did: operator.did, role: 'viewer' }), RpcErrorCode.Forbidden, /cannot make a owner into a viewer/);
      await expectRpcError(call(squat, 'usersRemove', { did: operator.did }), RpcErrorCode.Forbidden, /cannot remove a owner/);

      const demoted = await call(operator, 'usersSetRole', { did: ownerKey.did, role: 'viewer' });
      assert.equal(demoted.role, 'viewer');
      assert.equal(demoted.roleSetBy, operator.did, 'the view names who set the role');
      await expectRpcError(call(squat, 'invitationsList', {}), RpcErrorCode.Forbidden, /role viewer may not call/, 'the demotion applies at the next request');
      const removed = await call(operator, 'usersRemove', { did: ownerKey.did });
      assert.equal(removed.removed, true);
      assert.equal(removed.roleSetBy, operator.did, 'and who removed them');
      assert.equal(loadLocalOperator(broker.dataDir).did, operator.did);
    } finally {
      squatter?.close();
    }
  });
});

describe("Invitation takeover: an admin cannot revoke the owner's invitations", () => {
  test("an admin's revocation of an owner's invitation is forbidden; the owner, and an admin for its own, revoke", async () => {
    const broker = await started.broker();
    const owner = ownerOf(broker);
    const admin = await joinAs(broker, owner, 'admin', 'an-admin');
    try {
      const ownersInvitation = (await call(owner, 'invitationsCreate', { role: 'operator' })).invitation;
      await expectRpcError(
        call(admin, 'invitationsRevoke', { id: ownersInvitation.id }),
        RpcErrorCode.Forbidden,
        /only its creator, or someone who may manage a owner, revokes this invitation/,
      );
      const stillOpen = (await call(owner, 'invitationsList', {})).items.find((i) => i.id === ownersInvitation.id);
      assert.equal(stillOpen?.state, 'open', "the owner's invitation survives the admin's attempt");

      const adminsInvitation = (await call(admin, 'invitationsCreate', { role: 'viewer' })).invitation;
      assert.equal((await call(admin, 'invitationsRevoke', { id: adminsInvitation.id })).state, 'revoked', 'its creator revokes it');
      const another = (await call(admin, 'invitationsCreate', { role: 'viewer' })).invitation;
      assert.equal((await call(owner, 'invitationsRevoke', { id: another.id })).state, 'revoked', "an owner manages admins, so revokes an admin's invitation");
      assert.equal((await call(owner, 'invitationsRevoke', { id: ownersInvitation.id })).state, 'revoked');
    } finally {
      admin.client.close();
    }
  });
});
