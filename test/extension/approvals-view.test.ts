// The Approvals view against a real broker (started by the extension's own launcher) and a rogue agent that
// pauses a call for a reviewer: the row appears, and when the call is abandoned (its agent's connection
// closes) the row goes at once, from the broker's notifications only.
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { after, describe, test } from 'node:test';
import { IdType, SecretIdentity } from '../../core/identity';
import { approvalsTree } from '../../extension/model/approvals-tree';
import { LiveModel } from '../../extension/model/live-model';
import { RogueAgent } from '../attacks/support/rogue-agent';
import { removeDirs, waitFor } from '../support/processes';
import { connectLocal } from './support/local';
import { killLaunched, type LaunchedBroker } from './support/stdio-launcher';

const launched: LaunchedBroker[] = [];
const dirs: string[] = [];
after(async () => {
  await killLaunched(launched);
  removeDirs(...dirs);
});

const names = { agent: () => undefined, user: () => undefined };

describe('the Approvals view from a live broker', () => {
  test('drops a pending request as soon as its tool call is abandoned, without asking the broker again', async () => {
    const methods: string[] = [];
    const local = await connectLocal({ launched, methods, name: 'owner' });
    dirs.push(dirname(local.dataDir));
    const model = new LiveModel();
    await model.attach(local.session);
    const info = await local.session.call('brokerInfo', {});

    const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), info.hubUrl!, info.did, { name: 'pauses', requested: ['list_files'], agentVersion: '0.2.0' });
    const { hub } = await rogue.authenticate();
    await local.session.call('registrationsApprove', { did: rogue.did, policy: { capabilities: ['list_files'], approvalRequired: ['list_files'] } });
    await hub.next('update_capabilities');
    const { handshake } = await rogue.authenticate(hub);
    await local.session.call('intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: '.' } });
    const request = rogue.approvalRequest(rogue.openIntent((await hub.next('intent')).envelope, handshake.certificate.responder), handshake.policy);
    hub.send({ type: 'approval/request', envelope: request.envelope });

    const row = await waitFor('the request in the Approvals view', () => approvalsTree(model.approvals(), names, Date.now()).find((n) => n.id === `approval:${request.requestId}`));
    assert.equal(row.contextValue, 'approval.pending');
    const requestsBefore = methods.length;
    hub.close();
    await waitFor('the request gone from the Approvals view', () => approvalsTree(model.approvals(), names, Date.now()).length === 0);
    assert.equal(model.approvals().find((a) => a.requestId === request.requestId)?.state, 'expired');
    assert.deepEqual(methods.slice(requestsBefore).filter((m) => m.includes('approvals')), [], 'the change came as a notification');
  });
});
