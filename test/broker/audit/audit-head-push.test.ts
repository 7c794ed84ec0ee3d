// Issue 21: the broker hands connected agents its latest checkpoint (broker/audit/audit-head-push.ts), throttled per
// connection: after a burst of checkpoints an agent gets one head at once after its handshake, then, a few seconds
// later, only the latest. The real broker in-process (startBroker, its hub on 127.0.0.1) so the test can write a
// burst of audit lines itself; an in-process agent that speaks the hub protocol counts what it is sent.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { closeBrokerLogger } from '../../../broker/log';
import { startBroker, type RunningBroker } from '../../../broker/standalone';
import { IdType, SecretIdentity } from '../../../core/identity';
import { HubSocket, RogueAgent } from '../../attacks/support/rogue-agent';
import { tempDir, removeDirs, waitFor } from '../../support/processes';
import { parsedLines } from './support';

const dataDir = tempDir('head-push');
let running: RunningBroker | undefined;
let hub: HubSocket | undefined;
after(async () => {
  hub?.close();
  await running?.stop();
  if (running) closeBrokerLogger(running.log);
  removeDirs(dataDir);
});

const seqOf = (line: Uint8Array) => (JSON.parse(Buffer.from(line).toString('utf8')) as { seq: number }).seq;

test('one head after the handshake, then at most one per few seconds: the latest of a burst of checkpoints, not each', async () => {
  running = await startBroker({ dataDir, host: '127.0.0.1', port: 0, ops: { auditStreams: [] } });
  const agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), running.url, running.broker.identity.did, { name: 'counted', requested: ['list_files'], agentVersion: '0.6.0' });
  const authenticated = await agent.authenticate();
  hub = authenticated.hub;
  const first = await hub.next('audit/head');
  const heads = () => hub!.frames.filter((f) => f.type === 'audit/head');

  // 350 lines: three "lines" checkpoints (every 100 entries) within milliseconds of the handshake's head.
  for (let i = 0; i < 350; i++) running.log.info({ burst: i }, 'a line of the burst');
  const checkpoints = parsedLines(`${dataDir}/audit.log`).filter((l) => l.event === 'audit.checkpoint' && l.reason === 'lines');
  assert.ok(checkpoints.length >= 3, `${checkpoints.length} checkpoints`);
  const latest = Math.max(...checkpoints.map((l) => Number(l.seq)));
  assert.ok(latest > seqOf(first.line));
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal(heads().length, 0, 'nothing more within the throttle window');

  const next = await waitFor('the throttled head', () => heads()[0], 10_000);
  assert.equal(seqOf((next as { line: Uint8Array }).line), latest, 'the latest checkpoint, the earlier ones of the burst skipped');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(heads().length, 1);
});
