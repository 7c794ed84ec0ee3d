/**
 * The hub's rows of core/budgets.ts, each attacked at its bound and at its bound + 1 over a real socket to a real
 * broker: a frame of exactly the size limit reaches the decoder, one byte more is cut by the transport; the
 * frame-rate limit lets through exactly its number of unasked frames in a second and closes on the next one; a
 * handshake message of exactly the limit is read, one byte more is refused by the schema; a silent socket lives
 * until the handshake budget and not past it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { seal } from '../../core/identity';
import { encodeFrame } from '../../core/wire/frame-codec';
import { HUB_PROTOCOL_VERSION } from '../../core/wire/hub-messages';
import { waitFor } from '../support/processes';
import { Fleet } from './support/fleet';
import { HubSocket, RogueAgent } from './support/rogue-agent';

let fleet: Fleet;
before(async () => {
  fleet = await Fleet.start();
});
after(async () => {
  await fleet?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('hub budgets at the bound and at the bound + 1', () => {
  test('BUDGETS.hubFrameBytes: a frame of exactly the limit reaches the decoder (malformed, 4000); one byte more is cut by the transport (1009)', async () => {
    const limit = BUDGETS.hubFrameBytes.limit;
    const atBound = await HubSocket.connect(fleet.broker.url);
    atBound.sendRaw(new Uint8Array(limit).fill(0xc1));
    assert.equal((await atBound.next('error', () => true, 10_000)).code, 'malformed');
    assert.deepEqual(await atBound.waitClosed(10_000), { code: 4000, reason: 'malformed' });

    const over = await HubSocket.connect(fleet.broker.url);
    over.sendRaw(new Uint8Array(limit + 1).fill(0xc1));
    assert.equal((await over.waitClosed(10_000)).code, 1009);
    assert.equal(over.frames.length, 0, 'nothing of an oversized frame was decoded');
    await fleet.assertHealthy();
  });

  test('BUDGETS.hubFramesPerSecond: exactly the limit of unasked frames in one second keeps the connection; one more closes it with 4008', async () => {
    const limit = BUDGETS.hubFramesPerSecond.limit;
    // Approved rogues: a pending agent may send nothing but its handshake, whatever the rate.
    const [first, second] = await Promise.all([fleet.approvedRogue('burst-at-bound'), fleet.approvedRogue('burst-over')]);
    async function burst(count: number, { rogue, hub }: { rogue: RogueAgent; hub: HubSocket }): Promise<HubSocket> {
      // Let the handshakes' own frames fall out of the one-second window first.
      await sleep(1_100);
      const progress = { intentId: '0'.repeat(32), agent: rogue.did, seq: 0, stream: 'status', text: 'burst', at: Date.now() };
      const frame = encodeFrame({ type: 'progress', envelope: seal(rogue.identity, 'vaultysclaw/progress/v1', progress) });
      for (let i = 0; i < count; i++) hub.sendRaw(frame);
      return hub;
    }
    const atBound = await burst(limit, first);
    const over = await burst(limit + 1, second);
    assert.deepEqual(await over.waitClosed(10_000), { code: 4008, reason: 'rate limit' });
    // The same burst less one frame, sent at the same time: still open once the broker has read it all.
    await sleep(1_500);
    assert.equal(atBound.closed?.code === 4008, false, `closed at the bound: ${JSON.stringify(atBound.closed)}`);
    atBound.close();
    await fleet.assertHealthy();
  });

  test('BUDGETS.challengeMessageBytes: an auth/init challenge of exactly the limit is read by the handshake; one byte more is refused by the schema', async () => {
    const limit = BUDGETS.challengeMessageBytes.limit;
    const atBound = await HubSocket.connect(fleet.broker.url);
    atBound.send({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: new Uint8Array(limit) });
    const read = await atBound.next('error', () => true, 10_000);
    assert.notEqual(read.code, 'bad-schema', `the bound itself was refused by size: ${read.message}`);

    const over = await HubSocket.connect(fleet.broker.url);
    over.send({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: new Uint8Array(limit + 1) });
    const refused = await over.next('error', () => true, 10_000);
    assert.equal(refused.code, 'bad-schema');
    assert.match(refused.message, new RegExp(`at most ${limit} bytes`));
    await fleet.assertHealthy();
  });

  test('BUDGETS.agentHandshakeMs: a socket that never authenticates is still open just before the budget and closed with 4002 just after it', async () => {
    const limit = BUDGETS.agentHandshakeMs.limit;
    const silent = await HubSocket.connect(fleet.broker.url);
    const openedAt = Date.now();
    await sleep(limit - 1_500);
    assert.equal(silent.closed, undefined, `closed ${Date.now() - openedAt} ms after opening, before its budget`);
    const closed = await waitFor('the handshake timeout', () => silent.closed, 6_000);
    assert.deepEqual(closed, { code: 4002, reason: 'handshake timeout' });
    const lifetime = Date.now() - openedAt;
    assert.ok(lifetime <= limit + 5_000, `lived ${lifetime} ms, budget ${limit} ms`);
  });
});
