// Issue 19 finding 7: `pin/migrated` taken on the agent's word. A never-approved agent that reports pin
// migrations in a loop wrote an audit line per frame. Real broker process, raw hub connections on loopback.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { IdType, SecretIdentity } from '../../core/identity';
import { waitFor } from '../support/processes';
import { Fleet } from './support/fleet';
import { RogueAgent } from './support/rogue-agent';

let fleet: Fleet;
before(async () => {
  fleet = await Fleet.start();
});
after(async () => {
  await fleet?.stop();
});

const someRoot = SecretIdentity.generate(IdType.Organization).did;
const pinLines = (mark: number) => fleet.broker.log.lines.slice(mark).filter((l) => String(l.event).startsWith('agent.pin-migrat'));

describe('pin/migrated reports (issue 19 #7)', () => {
  test('a never-approved agent whose hello stated no pin is refused and closed at its first report: no pin audit line, however many it sends', async () => {
    const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), fleet.broker.url, fleet.broker.did);
    const { hub, status } = await rogue.authenticate();
    assert.equal(status, 'pending');
    const mark = fleet.broker.log.lines.length;
    for (let i = 0; i < 50; i++) hub.send({ type: 'pin/migrated', root: someRoot });
    const error = await hub.next('error');
    assert.equal(error.code, 'pin-report-refused', error.message);
    assert.equal((await hub.waitClosed()).code, 4001);
    await waitFor('the refusal audited', () => fleet.broker.log.lines.slice(mark).find((l) => l.event === 'hub.refused' && l.code === 'pin-report-refused'));
    assert.deepEqual(pinLines(mark), []);
    await fleet.assertHealthy();
  });

  test('an agent whose signed hello pinned this broker id may report once per connection; a second report closes it', async () => {
    const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), fleet.broker.url, fleet.broker.did, {
      name: 'migrating',
      requested: ['list_files'],
      agentVersion: '0.0.0-test',
      pin: fleet.broker.did,
    });
    const { hub } = await rogue.authenticate();
    const mark = fleet.broker.log.lines.length;
    hub.send({ type: 'pin/migrated', root: someRoot });
    // This broker has no root, so the report is audited as refused: once.
    await waitFor('the report audited', () => pinLines(mark)[0]);
    hub.send({ type: 'pin/migrated', root: someRoot });
    const error = await hub.next('error');
    assert.equal(error.code, 'pin-report-refused');
    assert.equal((await hub.waitClosed()).code, 4001);
    assert.equal(pinLines(mark).length, 1);
  });

  test('an agent whose hello pinned another id (its root) cannot report a migration from this broker id', async () => {
    const rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), fleet.broker.url, fleet.broker.did, {
      name: 'root-pinned',
      requested: ['list_files'],
      agentVersion: '0.0.0-test',
      pin: someRoot,
    });
    const { hub } = await rogue.authenticate();
    const mark = fleet.broker.log.lines.length;
    hub.send({ type: 'pin/migrated', root: someRoot });
    assert.equal((await hub.next('error')).code, 'pin-report-refused');
    assert.deepEqual(pinLines(mark), []);
  });
});
