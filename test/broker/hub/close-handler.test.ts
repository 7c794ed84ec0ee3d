/**
 * Nothing the broker does when an agent's socket closes may throw out of the close handler (review finding 1:
 * the agent directory's view threw there, and the broker process exited — at every reconnect). In process,
 * with a real Broker and hub: the broker's bookkeeping is made to fail (its database closed under it), the
 * agent's socket closes, and the failure is audited against that connection while the process and the hub
 * go on.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { Broker } from '../../../broker/broker';
import { IdType, SecretIdentity } from '../../../core/identity';
import { HubSocket, RogueAgent } from '../../attacks/support/rogue-agent';
import { waitFor } from '../../support/processes';

test('a failure of the broker while an agent disconnects is audited as hub.internal-error and never thrown out of the socket close handler', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vc-close-handler-'));
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
  const broker = await Broker.open({ dataDir, identity: SecretIdentity.generate(IdType.Machine), log: pino({ level: 'info' }, sink) });
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    const url = await broker.startHub({ host: '127.0.0.1', port: 0 });
    const agent = new RogueAgent(SecretIdentity.generate(IdType.Machine), url, broker.identity.did);
    const { hub } = await agent.authenticate();
    await broker.storage.close(); // every query of the close path now throws
    hub.close();
    const failure = await waitFor('the audited failure', () => lines.find((l) => l.event === 'hub.internal-error' && l.what === 'closed'));
    assert.equal(failure.did, agent.did);
    assert.match(String(failure.err), /driver has already been destroyed/);
    // The hub still takes connections.
    const next = await HubSocket.connect(url);
    next.close();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
    await broker.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
