// Issue 19 finding 6: a demoted admin's running llm_task kept writing (its role certificate lives for the task
// plus 5 minutes, and a demotion published no revocation), while a revoked operator grant stops at the next
// step. Real broker and agent processes; the model is a scripted OpenAI-compatible server on 127.0.0.1; the
// task pauses on a reviewer, the admin is demoted meanwhile, and the reviewer's approval comes after.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openBrokerStorage } from '../../broker/store/sql/broker-storage';
import { BUDGETS } from '../../core/budgets';
import {
  approveAgent,
  assertBrokerRefused,
  assertSucceeded,
  call,
  connectAs,
  decisionParams,
  finalIntent,
  heldListDelegations,
  joinAs,
  ownerOf,
  pendingApproval,
  runAs,
  type Member,
} from '../attacks/support/team';
import { waitFor, type AgentProcess, type BrokerProcess } from '../support/processes';
import { databaseArgs } from '../support/test-storage';
import { answers, callsTools, ScriptedModel } from '../support/scripted-model';
import { exitIfHeldOpen, Started } from '../support/started';

exitIfHeldOpen();

describe('a role change revokes what the role earned (issue 19 #6)', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let model: ScriptedModel;
  let agent: AgentProcess;
  let owner: Member;
  let carol: Member; // admin, demoted mid-task
  let bob: Member; // reviewer

  before(async () => {
    model = await ScriptedModel.start();
    broker = await started.broker();
    owner = ownerOf(broker);
    carol = await joinAs(broker, owner, 'admin', 'carol');
    bob = await joinAs(broker, owner, 'reviewer', 'bob');
    agent = await started.agent({
      brokerUrl: broker.url,
      brokerDid: broker.did,
      request: 'llm_task,read_file,write_file',
      args: ['--model-url', model.url, '--model', 'scripted-model', '--model-key-env', 'VC_TEST_MODEL_KEY'],
      env: { VC_TEST_MODEL_KEY: 'sk-vc-test-role-revocation' },
    });
    writeFileSync(join(agent.workspace, 'hello.txt'), 'hello\n');
    await approveAgent(owner, agent, { capabilities: ['llm_task', 'read_file', 'write_file'], approvalRequired: ['write_file'], maxTokensPerDay: 1_000_000, maxRequestsPerHour: 100 });
  });

  /** Same data directory and port: the agent reconnects to the new process. */
  const restartBroker = async (whileStopped?: () => Promise<void>) => {
    bob.client.close();
    await broker.kill();
    await whileStopped?.();
    broker = await started.broker({ dataDir: broker.dataDir, port: Number(new URL(broker.url).port) });
    owner = ownerOf(broker);
    bob = { ...bob, client: await connectAs(broker, bob.identity, 'bob') };
    await waitFor('the agent back on the restarted broker', async () => (await call(owner, 'agentsGet', { did: agent.did })).online, 15_000);
  };

  after(async () => {
    for (const m of [carol, bob]) m?.client.close();
    await started.cleanup();
    await model?.close();
  });

  test("a demoted admin's running llm_task stops at its next step: the demotion publishes a revocation the agent applies", async () => {
    const args = { path: 'after-demotion.txt', content: 'written by a former admin\n', mode: 'create' };
    model.play([callsTools([{ name: 'write_file', args }], 40), callsTools([{ name: 'write_file', args: { ...args, path: 'again.txt' } }], 40), answers('done', 5)]);
    const sent = await call(carol, 'intentsDispatch', { agent: agent.did, capability: 'llm_task', params: { instruction: 'write two files' } });
    assert.equal(sent.state, 'sent', `${sent.reason}: ${sent.message}`);
    const approval = await pendingApproval(bob, sent.id, 15_000);

    const mark = agent.log.lines.length;
    await call(owner, 'usersSetRole', { did: carol.did, role: 'viewer' });
    await agent.log.waitFor('revocations.updated', (l) => agent.log.lines.indexOf(l) >= mark, 15_000);

    await call(bob, 'approvalsDecide', decisionParams(bob.identity, approval, 'approve'));
    const done = await finalIntent(owner, sent.id, 20_000);
    assert.notEqual(done.state, 'succeeded');
    assert.equal(done.reason, 'delegation-revoked', `${done.state} ${done.reason}: ${done.message}`);
    assert.equal(existsSync(join(agent.workspace, 'after-demotion.txt')), false, 'the approved write of a former admin never ran');
    assert.equal(existsSync(join(agent.workspace, 'again.txt')), false);
    assert.ok(broker.log.find('delegation.role-revoked', (l) => l.did === carol.did), 'the broker audited the revocation');
  });

  /** A new admin, holding a role certificate the broker signed for a read on the agent; their session closed. */
  const adminWithCertificate = async (name: string): Promise<Member> => {
    const admin = await joinAs(broker, owner, 'admin', name);
    const read = await call(admin, 'intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path: 'hello.txt' } });
    assert.equal((await finalIntent(owner, read.id, 20_000)).state, 'succeeded', `${name} holds a role certificate the broker signed`);
    admin.client.close();
    return admin;
  };

  /** Runs `change`, then waits for the agent to accept the list it publishes; how many revoked certificates that names. */
  const listAfter = async (change: () => Promise<unknown>): Promise<number> => {
    const mark = agent.log.lines.length;
    await change();
    await agent.log.waitFor('revocations.updated', (l) => agent.log.lines.indexOf(l) >= mark, 15_000);
    return heldListDelegations(agent.log);
  };

  test('a role certificate signed before a broker restart is revoked by a demotion after it (issue 20)', async () => {
    const dave = await adminWithCertificate('dave');
    const named = heldListDelegations(agent.log);
    await restartBroker();
    assert.equal(await listAfter(() => call(owner, 'usersSetRole', { did: dave.did, role: 'viewer' })), named + 1, "the list names dave's certificate, signed by the process before");
  });

  test('a role certificate revoked before a broker restart is still named on the first list signed after it (issue 20)', async () => {
    const erin = await adminWithCertificate('erin');
    const grant = await call(owner, 'grantsCreate', { user: bob.did, agent: '*', capabilities: ['read_file'], validForMs: 3_600_000 });
    const named = await listAfter(() => call(owner, 'usersSetRole', { did: erin.did, role: 'viewer' }));
    await restartBroker();
    assert.equal(await listAfter(() => call(owner, 'grantsRevoke', { id: grant.id })), named + 1, "the list names the revoked grant and still erin's certificate");
  });

  test('BUDGETS.roleCertificatesLive live role certificates at most: the dispatch that needs the one past it is refused rate-limited, audited (issue 20)', async () => {
    const frank = await joinAs(broker, owner, 'admin', 'frank');
    const limit = BUDGETS.roleCertificatesLive.limit;
    // limit - 1 live role certificates (the earlier tests' and fillers of another admin), written while the broker is stopped (10 000 dispatches would take minutes).
    await restartBroker(async () => {
      // The broker's own storage, whichever the run gives it (broker.db, or its PostgreSQL database).
      const storage = await openBrokerStorage(broker.dataDir, (await databaseArgs(broker.dataDir))[1]);
      const now = Date.now();
      const { live } = await storage.db.selectFrom('role_certificates').select((eb) => eb.fn.countAll<number>().as('live')).where('expires_at', '>', now).executeTakeFirstOrThrow();
      const rows = Array.from({ length: limit - 1 - Number(live) }, (_, i) => ({ id: `f${i.toString(16).padStart(31, '0')}`, user_did: owner.did, expires_at: now + 3_600_000 }));
      for (let i = 0; i < rows.length; i += 1_000) await storage.db.insertInto('role_certificates').values(rows.slice(i, i + 1_000)).execute();
      await storage.close();
    });
    frank.client = await connectAs(broker, frank.identity, 'frank');
    try {
      // The limit-th live role certificate is signed.
      assertSucceeded(await runAs(frank, agent.did, 'read_file', { path: 'hello.txt' }));
      const over = await runAs(frank, agent.did, 'write_file', { path: 'over.txt', content: 'x', mode: 'create' });
      assertBrokerRefused(over, 'rate-limited', new RegExp(`${limit} role certificates live already`));
      assert.ok(broker.log.find('delegation.role-certificates-full', (l) => l.user === frank.did && l.limit === limit));
      assert.equal(existsSync(join(agent.workspace, 'over.txt')), false);
    } finally {
      frank.client.close();
    }
  });
});
