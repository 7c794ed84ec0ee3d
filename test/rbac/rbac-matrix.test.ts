// RBAC (architecture.md): every JSON-RPC method of core/rpc/methods.ts × every role, on ONE real broker
// process. The owner is the broker host's local operator; an admin, an operator, a reviewer and a viewer
// join by invitation over the hub's /rpc WebSocket with keys of their own; a raw connection never
// authenticates. Each call carries valid params (mutating calls get a fresh target each), so what decides
// the answer is the role: allowed roles succeed, forbidden ones get exactly Forbidden (-32003) from the
// role check, and the unauthenticated connection gets Unauthenticated (-32001) for every method.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import { Methods, RpcErrorCode, type MethodName, type ParamsOf, type ResultOf } from '../../core/rpc/methods';
import { ADMINS, DISPATCHERS, Role } from '../../core/rpc/roles';
import type { ApprovalView } from '../../core/rpc/views';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import {
  approveAgent,
  assertSucceeded,
  auditLines,
  call,
  connectAttempt,
  decisionParams,
  expectRpcError,
  finalIntent,
  joinAs as joinBroker,
  ownerOf,
  pendingApproval,
  RawRpc,
  registerAgent,
  type Member,
} from '../attacks/support/team';

exitIfHeldOpen();
const started = new Started();

let broker: BrokerProcess;
let agent: AgentProcess;
let anon: RawRpc;
const members = new Map<Role, Member>();
const extraClients: Member[] = [];
const fixture = {
  pendingAgent: '',
  approvedTarget: '',
  intentId: '',
  grantId: '',
  invitationId: '',
  approvalId: '',
  grantee: '',
};

const member = (role: Role): Member => members.get(role) ?? assert.fail(`no ${role}`);
const owner = () => member('owner');
let seq = 0;
const unique = (prefix: string) => `${prefix}-${++seq}-${Date.now()}`;

/** A new member (a viewer unless said otherwise), as the target of a role change or a removal. */
async function freshUser(role: Role = 'viewer'): Promise<Member> {
  const m = await joinBroker(broker, owner(), role, unique('target'));
  extraClients.push(m);
  return m;
}

/** A new tool call paused for a reviewer: the operator writes a file on the agent, which needs approval. */
async function freshApproval(by: Member = member('operator')): Promise<ApprovalView> {
  const sent = await call(by, 'intentsDispatch', {
    agent: agent.did,
    capability: 'write_file',
    params: { path: `${unique('approval')}.txt`, content: 'x', mode: 'create' },
  });
  assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
  return pendingApproval(owner(), sent.id);
}

interface Case<M extends MethodName> {
  /** Valid params for a call by `caller`; mutating methods get a fresh target each time. */
  params: (caller: Member) => Promise<ParamsOf<M>>;
  /** What an allowed caller's success must look like. */
  check: (result: ResultOf<M>, caller: Member) => void;
}

/** Typed over MethodName, so a method added to the table without a case here does not compile. */
const matrix: { [M in MethodName]: Case<M> } = {
  brokerInfo: { params: async () => ({}), check: (r) => assert.equal(r.did, broker.did) },
  // The identity files are unchanged, so an allowed reload keeps the same broker id (rotation: test/e2e/broker-rotation).
  identityReload: { params: async () => ({}), check: (r) => assert.equal(r.did, broker.did) },
  usersList: { params: async () => ({}), check: (r) => assert.ok(Role.options.every((role) => r.items.some((u) => u.did === member(role).did && u.role === role))) },
  usersSetRole: {
    params: async () => ({ did: (await freshUser('viewer')).did, role: 'reviewer' }),
    check: (r) => assert.equal(r.role, 'reviewer'),
  },
  usersRemove: { params: async () => ({ did: (await freshUser('viewer')).did }), check: (r) => assert.equal(r.removed, true) },
  usersRename: {
    params: async () => {
      const target = await freshUser('viewer');
      return { did: target.did, name: `${target.name}-renamed` };
    },
    check: (r) => assert.match(r.name, /-renamed$/),
  },
  invitationsCreate: {
    params: async () => ({ role: 'viewer' }),
    check: (r, c) => {
      assert.equal(r.invitation.state, 'open');
      assert.equal(r.invitation.createdBy, c.did);
      assert.match(r.token, /^[A-Za-z0-9_-]{43}$/);
    },
  },
  invitationsList: { params: async () => ({}), check: (r) => assert.ok(r.items.some((i) => i.id === fixture.invitationId)) },
  invitationsRevoke: {
    // An invitation is revoked by its creator (or above): allowed callers revoke their own, the others are refused by role first.
    params: async (c) => ({ id: (await call(ADMINS.includes(c.role) ? c : owner(), 'invitationsCreate', { role: 'viewer' })).invitation.id }),
    check: (r, c) => {
      assert.equal(r.state, 'revoked');
      assert.equal(r.createdBy, c.did);
    },
  },
  grantsCreate: {
    params: async () => ({ user: fixture.grantee, agent: agent.did, capabilities: ['read_file'], validForMs: 60_000 }),
    check: (r, c) => {
      assert.equal(r.user, fixture.grantee);
      assert.equal(r.issuedBy, c.did);
      assert.equal(r.revoked, false);
    },
  },
  grantsList: { params: async () => ({}), check: (r) => assert.ok(r.items.some((g) => g.id === fixture.grantId)) },
  grantsRevoke: {
    params: async () => ({ id: (await call(owner(), 'grantsCreate', { user: fixture.grantee, agent: '*', capabilities: ['list_files'], validForMs: 60_000 })).id }),
    check: (r) => assert.equal(r.revoked, true),
  },
  approvalsList: { params: async () => ({ state: 'pending' }), check: (r) => assert.ok(r.items.some((a) => a.requestId === fixture.approvalId)) },
  approvalsGet: { params: async () => ({ requestId: fixture.approvalId }), check: (r) => assert.equal(r.requestId, fixture.approvalId) },
  approvalsDecide: {
    params: async (caller) => decisionParams(caller.identity, await freshApproval(), 'approve', { reason: `by ${caller.role}` }),
    check: (r, c) => {
      assert.equal(r.state, 'approved');
      assert.equal(r.decidedBy, c.did);
    },
  },
  agentsList: { params: async () => ({}), check: (r) => assert.ok(r.items.some((a) => a.did === agent.did)) },
  agentsGet: { params: async () => ({ did: agent.did }), check: (r) => assert.equal(r.status, 'approved') },
  agentsRevoke: {
    params: async () => ({ did: await registerAgent(broker), reason: 'rbac matrix' }),
    check: (r) => assert.equal(r.status, 'revoked'),
  },
  policySet: {
    params: async () => ({ did: fixture.approvedTarget, policy: { capabilities: ['read_file'] } }),
    check: (r) => {
      assert.equal(r.status, 'approved');
      assert.deepEqual(r.policy?.capabilities, ['read_file']);
    },
  },
  // The dry run answers for the caller: every dispatcher may list files here (owners and admins by role, the operator by grant).
  policyTest: {
    params: async () => ({ agent: agent.did, capability: 'list_files', params: { path: '.' } }),
    check: (r) => assert.deepEqual([r.verdict, r.gate, r.rule?.source], ['allowed', 'rules', 'approvalRequired']),
  },
  policyAllowCall: {
    params: async () => ({ requestId: (await freshApproval()).requestId }),
    check: (r) => {
      assert.match(r.rule, /^allow approval-.*\.txt$/);
      assert.deepEqual(r.agent.policy?.rules?.write_file?.rules[0], { effect: 'allow', match: { path: r.rule.slice('allow '.length) } });
    },
  },
  registrationsList: { params: async () => ({}), check: (r) => assert.ok(r.items.some((a) => a.did === fixture.pendingAgent)) },
  registrationsApprove: {
    params: async () => ({ did: await registerAgent(broker), policy: { capabilities: ['read_file'] } }),
    check: (r) => assert.equal(r.status, 'approved'),
  },
  registrationsReject: {
    params: async () => ({ did: await registerAgent(broker), reason: 'rbac matrix' }),
    check: (r) => assert.equal(r.status, 'rejected'),
  },
  intentsDispatch: {
    params: async () => ({ agent: agent.did, capability: 'list_files', params: { path: '.' } }),
    check: (r, c) => {
      assert.equal(r.state, 'sent', `${r.reason}: ${r.message}`);
      assert.equal(r.user, c.did);
    },
  },
  intentsGet: { params: async () => ({ id: fixture.intentId }), check: (r) => assert.equal(r.state, 'succeeded') },
  intentsList: { params: async () => ({}), check: (r) => assert.ok(r.items.some((i) => i.id === fixture.intentId)) },
  // A fresh rejected agent each time: only revoked or rejected agents can be removed.
  agentsRemove: {
    params: async () => {
      const did = await registerAgent(broker);
      await call(owner(), 'registrationsReject', { did, reason: 'rbac matrix' });
      return { did };
    },
    check: (r) => assert.deepEqual([r.status, r.removed], ['rejected', true]),
  },
  // Each allowed caller cancels an intent of their own, paused for a reviewer (so still in flight); the broker's own
  // check (requester or admin) is test/e2e/intent-cancel.test.ts.
  intentsCancel: {
    params: async (c) => ({ id: (await freshApproval(DISPATCHERS.includes(c.role) ? c : member('operator'))).intentId }),
    check: (r, c) => {
      assert.equal(r.state, 'cancelled');
      assert.equal(r.user, c.did);
    },
  },
};

const methodNames = () => Object.entries(Methods).map(([name]) => name as MethodName);

before(async () => {
  broker = await started.broker();
  members.set('owner', ownerOf(broker));
  for (const role of ['admin', 'operator', 'reviewer', 'viewer'] as const) members.set(role, await joinBroker(broker, owner(), role, role));
  anon = await RawRpc.connect(broker.url);

  agent = await started.agent({ brokerUrl: broker.url, brokerDid: broker.did, request: 'read_file,list_files,write_file' });
  await approveAgent(owner(), agent, { capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'] });
  writeFileSync(join(agent.workspace, 'hello.txt'), 'hello\n');

  // The operator dispatches within a grant; the grantee is a bystander that grants are made for.
  const grant = await call(owner(), 'grantsCreate', { user: member('operator').did, agent: '*', capabilities: ['list_files', 'write_file'], validForMs: 60 * 60_000 });
  fixture.grantId = grant.id;
  fixture.grantee = (await freshUser('operator')).did;
  fixture.invitationId = (await call(owner(), 'invitationsCreate', { role: 'viewer' })).invitation.id;
  fixture.pendingAgent = await registerAgent(broker);
  fixture.approvedTarget = await registerAgent(broker);
  await call(owner(), 'registrationsApprove', { did: fixture.approvedTarget, policy: { capabilities: ['read_file', 'list_files'] } });
  const intent = await call(owner(), 'intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path: 'hello.txt' } });
  assertSucceeded(await finalIntent(owner(), intent.id));
  fixture.intentId = intent.id;
  fixture.approvalId = (await freshApproval()).requestId;
});

after(async () => {
  anon?.close();
  for (const m of [...members.values(), ...extraClients]) if (m.role !== 'owner') m.client.close();
  await started.cleanup();
});

describe('RBAC: every method × every role', () => {
  test('the matrix covers exactly the methods of the table, and each method declares its roles', () => {
    assert.deepEqual(Object.keys(matrix).sort(), methodNames().sort(), 'a method of core/rpc/methods.ts has no case in the matrix (or the reverse)');
    for (const [name, spec] of Object.entries(Methods)) {
      assert.ok(spec.roles.length > 0, `${name} allows nobody`);
      assert.ok(spec.roles.every((r) => Role.options.includes(r)), `${name} names an unknown role`);
    }
  });

  const forbiddenCalls: Array<{ role: Role; did: string; method: string }> = [];

  for (const role of Role.options) {
    test(`${role}: allowed methods succeed, every other method is refused with Forbidden (-32003) by the role check`, async () => {
      const caller = member(role);
      let allowed = 0;
      let refused = 0;
      for (const [key, spec] of Object.entries(Methods)) {
        const name = key as MethodName;
        const c = matrix[name] as unknown as Case<MethodName>;
        assert.ok(c, `no case for ${name}`);
        const params = await c.params(caller);
        if (spec.roles.includes(role)) {
          let result: ResultOf<MethodName>;
          try {
            result = await call(caller, name, params);
          } catch (err) {
            assert.fail(`${role} may call ${spec.method} but got ${(err as { code?: number }).code} ${(err as Error).message}`);
          }
          c.check(result, caller);
          allowed++;
        } else {
          await expectRpcError(call(caller, name, params), RpcErrorCode.Forbidden, new RegExp(`^role ${role} may not call ${spec.method}$`), `${role} → ${spec.method}`);
          forbiddenCalls.push({ role, did: caller.did, method: spec.method });
          refused++;
        }
      }
      assert.equal(allowed + refused, Object.keys(Methods).length);
      // Roles are not vacuous: everyone reads; only the owner and admins may do everything.
      assert.ok(allowed >= 1);
      if (role === 'owner' || role === 'admin') assert.equal(refused, 0, `${role} refused ${refused} methods`);
      else assert.ok(refused > 0, `${role} was refused nothing`);
    });
  }

  test('the roles of the table are what the architecture says (spot checks)', () => {
    const allowedFor = (name: MethodName) => [...Methods[name].roles].sort();
    assert.deepEqual(allowedFor('intentsDispatch'), ['admin', 'operator', 'owner']);
    assert.deepEqual(allowedFor('policyTest'), allowedFor('intentsDispatch'), 'the dry run is for who may dispatch');
    assert.deepEqual(allowedFor('approvalsDecide'), ['admin', 'owner', 'reviewer']);
    for (const name of ['usersSetRole', 'usersRemove', 'usersRename', 'invitationsCreate', 'grantsCreate', 'grantsRevoke', 'agentsRevoke', 'policySet', 'policyAllowCall', 'registrationsApprove', 'agentsRemove'] as const) {
      assert.deepEqual(allowedFor(name), ['admin', 'owner'], name);
    }
    assert.deepEqual(allowedFor('agentsList'), [...Role.options].sort());
  });

  test('an unauthenticated connection gets Unauthenticated (-32001) for every method', async () => {
    const stranger: Member = { role: 'viewer', name: 'stranger', identity: SecretIdentity.generate(IdType.Person), client: undefined as never, did: '' };
    stranger.did = stranger.identity.did;
    // Valid params first: some take a dispatch and a paused approval to make, longer than a socket that has not
    // logged in is kept open (BUDGETS.rpcHandshakeMs).
    const calls: [string, unknown][] = [];
    for (const [key, spec] of Object.entries(Methods)) calls.push([spec.method, await (matrix[key as MethodName] as unknown as Case<MethodName>).params(stranger)]);
    // A socket that has not logged in may send BUDGETS.preAuthFrames frames: a fresh one for each batch that fits.
    let sent: number = BUDGETS.preAuthFrames.limit;
    for (const [method, params] of calls) {
      if (sent === BUDGETS.preAuthFrames.limit) {
        anon.close();
        anon = await RawRpc.connect(broker.url);
        sent = 0;
      }
      sent++;
      await expectRpcError(anon.request(method, params), RpcErrorCode.Unauthenticated, /prove your identity first/, `unauthenticated → ${method}`);
    }
    // Nothing changed behind the refusals: the pending approval of the fixture is still pending.
    assert.equal((await call(owner(), 'approvalsGet', { requestId: fixture.approvalId })).state, 'pending');
  });

  test("every refused call is in the broker's audit log as rpc.forbidden with the caller's DID, method and role", async () => {
    assert.ok(forbiddenCalls.length > 0, 'the role tests ran first and refused something');
    const lines = await waitFor('the audit log to hold every refusal', () => {
      const forbidden = auditLines(broker.dataDir).filter((l) => l.event === 'rpc.forbidden');
      return forbiddenCalls.every((f) => forbidden.some((l) => l.did === f.did && l.method === f.method && l.role === f.role)) ? forbidden : undefined;
    });
    const viewerRemove = lines.find((l) => l.did === member('viewer').did && l.method === Methods.usersRemove.method);
    assert.ok(viewerRemove, 'the viewer calling users/remove is audited');
    assert.equal(viewerRemove.role, 'viewer');
  });
});

describe('RBAC: role escalation', () => {
  test('an admin cannot make anyone an owner (nor can the owner: there is one way to be owner)', async () => {
    const admin = member('admin');
    for (const from of ['viewer', 'operator'] as const) {
      const target = await freshUser(from);
      await expectRpcError(call(admin, 'usersSetRole', { did: target.did, role: 'owner' }), RpcErrorCode.Forbidden, new RegExp(`a admin cannot make a ${from} into a owner`));
      const after = (await call(owner(), 'usersList', {})).items.find((u) => u.did === target.did);
      assert.equal(after?.role, from);
      // Positive control: the same admin may change the same user to a lower role.
      assert.equal((await call(admin, 'usersSetRole', { did: target.did, role: 'reviewer' })).role, 'reviewer');
    }
    const target = await freshUser('viewer');
    await expectRpcError(call(owner(), 'usersSetRole', { did: target.did, role: 'owner' }), RpcErrorCode.Forbidden, /a owner cannot make a viewer into a owner/);
    await expectRpcError(call(admin, 'invitationsCreate', { role: 'owner' }), RpcErrorCode.Forbidden, /a admin cannot invite a owner/);
  });

  test('an admin cannot change or remove another admin or the owner, and cannot raise anyone to admin', async () => {
    const admin = member('admin');
    const admin2 = await freshUser('admin');
    await expectRpcError(call(admin, 'usersSetRole', { did: admin2.did, role: 'viewer' }), RpcErrorCode.Forbidden, /a admin cannot make a admin into a viewer/);
    await expectRpcError(call(admin, 'usersRemove', { did: admin2.did }), RpcErrorCode.Forbidden, /a admin cannot remove a admin/);
    await expectRpcError(call(admin, 'usersSetRole', { did: owner().did, role: 'viewer' }), RpcErrorCode.Forbidden, /a admin cannot make a owner into a viewer/);
    await expectRpcError(call(admin, 'usersRemove', { did: owner().did }), RpcErrorCode.Forbidden, /a admin cannot remove a owner/);
    const viewer = await freshUser('viewer');
    await expectRpcError(call(admin, 'usersSetRole', { did: viewer.did, role: 'admin' }), RpcErrorCode.Forbidden, /a admin cannot make a viewer into a admin/);
    const users = (await call(owner(), 'usersList', {})).items;
    assert.equal(users.find((u) => u.did === admin2.did)?.role, 'admin');
    assert.equal(users.find((u) => u.did === admin2.did)?.removed, false);
    assert.equal(users.find((u) => u.did === owner().did)?.role, 'owner');
    assert.equal(users.find((u) => u.did === viewer.did)?.role, 'viewer');
    // The second admin still works, so the refusals above were about authority, not a dead session.
    assert.equal((await call(admin2, 'usersList', {})).items.length, users.length);
  });

  test('nobody changes their own role or removes themselves', async () => {
    for (const role of ['owner', 'admin'] as const) {
      const self = member(role);
      for (const to of ['viewer', 'admin'] as const) {
        await expectRpcError(call(self, 'usersSetRole', { did: self.did, role: to }), RpcErrorCode.Forbidden, /nobody changes their own role/, `${role} → ${to}`);
      }
      await expectRpcError(call(self, 'usersRemove', { did: self.did }), RpcErrorCode.Forbidden, /nobody removes themselves/);
    }
    for (const role of ['operator', 'reviewer', 'viewer'] as const) {
      const self = member(role);
      await expectRpcError(call(self, 'usersSetRole', { did: self.did, role: 'admin' }), RpcErrorCode.Forbidden, /may not call vaultysclaw\/users\/setRole/);
    }
    const users = (await call(owner(), 'usersList', {})).items;
    for (const role of Role.options) assert.equal(users.find((u) => u.did === member(role).did)?.role, role);
  });

  test('operators, reviewers and viewers cannot invite anyone; an admin cannot invite an admin', async () => {
    for (const role of ['operator', 'reviewer', 'viewer'] as const) {
      for (const invited of ['viewer', role] as const) {
        await expectRpcError(call(member(role), 'invitationsCreate', { role: invited }), RpcErrorCode.Forbidden, /may not call vaultysclaw\/invitations\/create/, `${role} invites ${invited}`);
      }
    }
    await expectRpcError(call(member('admin'), 'invitationsCreate', { role: 'admin' }), RpcErrorCode.Forbidden, /a admin cannot invite a admin/);
    // Positive controls: the admin invites an operator, the owner invites an admin.
    assert.equal((await call(member('admin'), 'invitationsCreate', { role: 'operator' })).invitation.role, 'operator');
    assert.equal((await call(owner(), 'invitationsCreate', { role: 'admin' })).invitation.role, 'admin');
  });

  test('a role change takes effect at the next request of an open session', async () => {
    const demoted = await freshUser('admin');
    assert.equal((await call(demoted, 'invitationsCreate', { role: 'viewer' })).invitation.state, 'open');
    assert.equal((await call(owner(), 'usersSetRole', { did: demoted.did, role: 'viewer' })).role, 'viewer');
    await expectRpcError(call(demoted, 'invitationsCreate', { role: 'viewer' }), RpcErrorCode.Forbidden, /^role viewer may not call vaultysclaw\/invitations\/create$/);
  });

  test('a removed user is refused on the next request of their open session (-32003) and on a new handshake (-32001)', async () => {
    const removed = await freshUser('operator');
    assert.ok((await call(removed, 'usersList', {})).items.some((u) => u.did === removed.did), 'works before removal');
    assert.equal((await call(member('admin'), 'usersRemove', { did: removed.did })).removed, true);
    await expectRpcError(call(removed, 'usersList', {}), RpcErrorCode.Forbidden, /^a removed user may not call vaultysclaw\/users\/list$/);
    await expectRpcError(
      call(removed, 'intentsDispatch', { agent: agent.did, capability: 'list_files', params: { path: '.' } }),
      RpcErrorCode.Forbidden,
      /a removed user may not call/,
    );
    await expectRpcError(connectAttempt(broker, removed.identity, 'again'), RpcErrorCode.Unauthenticated, /this user was removed from the broker/);
    // Nor can a new invitation bring the same key back.
    const { token, invitation } = await call(owner(), 'invitationsCreate', { role: 'operator' });
    await expectRpcError(connectAttempt(broker, removed.identity, 'again', token), RpcErrorCode.Unauthenticated, /this user was removed from the broker/);
    const audited = auditLines(broker.dataDir).find((l) => l.event === 'rpc.forbidden' && l.did === removed.did);
    assert.equal(audited?.role, 'none');
    // The invitation was not consumed by the refused handshake.
    const again = (await call(owner(), 'invitationsList', {})).items.find((i) => i.id === invitation.id);
    assert.equal(again?.state, 'open');
    assert.equal(again?.usedBy, null);
  });

  // An invitation carries its creator's authority: removing the admin voids the invitations they minted.
  test(
    "an invitation created by an admin who was then removed no longer admits anyone",
    async () => {
      const admin = await freshUser('admin');
      const { token, invitation } = await call(admin, 'invitationsCreate', { role: 'operator' });
      assert.equal((await call(owner(), 'usersRemove', { did: admin.did })).removed, true);
      const newcomer = SecretIdentity.generate(IdType.Person);
      await expectRpcError(connectAttempt(broker, newcomer, 'newcomer', token), RpcErrorCode.Unauthenticated, /invitation/);
      const listed = (await call(owner(), 'invitationsList', {})).items.find((i) => i.id === invitation.id);
      assert.notEqual(listed?.state, 'used');
    },
  );
});
