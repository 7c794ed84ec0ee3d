/**
 * Seed threat "an individual agent is fully compromised": approved rogue
 * agents with real keys deviate on purpose, all at once — results for intents
 * they never got, messages claiming another agent's DID, frame floods, an old
 * certificate replayed, frames over the size cap, and a connection that never
 * reads while the broker has megabytes to send it. Meanwhile an honest agent
 * gets one intent after another: every one must succeed. The broker stays up
 * and audits each deviation with its reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { seal } from '../../core/identity';
import { encodeFrame } from '../../core/wire/frame-codec';
import { MAX_HUB_FRAME_BYTES } from '../../core/wire/hub-messages';
import { MAX_WRITE_BYTES } from '../../core/wire/tools';
import { waitFor } from '../support/processes';
import { assertAlive, bounded, finalIntent, Fleet } from '../attacks/support/fleet';
import { HubSocket } from '../attacks/support/rogue-agent';
import { exitIfHeldOpen } from '../support/started';

exitIfHeldOpen();

let fleet: Fleet;
before(async () => {
  fleet = await Fleet.start();
});
after(async () => {
  await fleet?.stop();
});

/** An approved rogue, renewed on update_capabilities like an honest agent, so the broker sends it intents. */
/** The broker's audit line for `event` after `mark`, with the fields given. */
function audited(mark: number, event: string, fields: Record<string, unknown> = {}) {
  return waitFor(`audit ${event} ${JSON.stringify(fields)}`, () =>
    fleet.broker.log.lines.slice(mark).find((l) => l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v)),
  15_000);
}

describe('a compromised agent deviates in every way at once; the honest agent is unaffected', () => {
  test('each deviation is refused and audited with its reason, while every intent of the honest agent succeeds', async () => {
    const [a, b, flooder, silent] = await Promise.all([
      fleet.approvedRogue('rogue-a', { capabilities: ['list_files'], maxRequestsPerHour: 1000 }),
      fleet.approvedRogue('rogue-b', { capabilities: ['list_files'], maxRequestsPerHour: 1000 }),
      fleet.approvedRogue('rogue-flood', { capabilities: ['list_files'], maxRequestsPerHour: 1000 }),
      fleet.approvedRogue('rogue-silent', { capabilities: ['write_file'], maxRequestsPerHour: 1000 }),
    ]);
    const mark = fleet.broker.log.lines.length;

    // The honest agent's intents, one after another for the whole attack.
    let attacking = true;
    const honest = { succeeded: 0, other: [] as string[], slowestMs: 0 };
    const honestLoop = (async () => {
      while (attacking) {
        const startedAt = Date.now();
        const sent = await fleet.call('intentsDispatch', { agent: fleet.honest.did, capability: 'list_files', params: { path: '.' } });
        const done = await finalIntent(fleet.broker, sent.id, 20_000);
        honest.slowestMs = Math.max(honest.slowestMs, Date.now() - startedAt);
        if (done.state === 'succeeded') honest.succeeded++;
        else honest.other.push(`${done.state} ${done.reason} ${done.message}`);
      }
    })();

    const deviations = [
      // A result for an intent it never got.
      (async () => {
        a.hub.send({ type: 'result', envelope: a.rogue.result({ intentId: 'f'.repeat(32), outcome: 'succeeded', reason: null, message: 'forged', output: null }) });
        assert.equal((await a.hub.next('error')).code, 'unknown-intent');
        await audited(mark, 'result.refused', { did: a.rogue.did, reason: 'unknown-intent' });
      })(),
      // Progress claiming another agent's DID.
      (async () => {
        const claimed = { intentId: 'e'.repeat(32), agent: fleet.honest.did, seq: 0, stream: 'status', text: 'forged', at: Date.now() };
        b.hub.send({ type: 'progress', envelope: seal(b.rogue.identity, 'vaultysclaw/progress/v1', claimed) });
        assert.deepEqual(await b.hub.waitClosed(10_000), { code: 4001, reason: 'impersonation' });
        await audited(mark, 'result.refused', { did: b.rogue.did, code: 'impersonation', claimed: fleet.honest.did });
      })(),
      // A flood of valid, signed frames.
      (async () => {
        const progress = { intentId: '0'.repeat(32), agent: flooder.rogue.did, seq: 0, stream: 'status', text: 'flood', at: Date.now() };
        const frame = encodeFrame({ type: 'progress', envelope: seal(flooder.rogue.identity, 'vaultysclaw/progress/v1', progress) });
        for (let i = 0; i < 1000 && flooder.hub.socket.readyState === flooder.hub.socket.OPEN; i++) flooder.hub.sendRaw(frame);
        assert.deepEqual(await flooder.hub.waitClosed(10_000), { code: 4008, reason: 'rate limit' });
        await audited(mark, 'hub.rate-limited', { did: flooder.rogue.did });
      })(),
      // The certificate of its first session replayed on a new connection.
      (async () => {
        const first = await a.rogue.authenticate();
        first.hub.close();
        const replay = await HubSocket.connect(fleet.broker.url);
        await a.rogue.begin(replay);
        replay.send({ type: 'auth/complete', challenge: first.handshake.complete });
        assert.equal((await replay.next('error')).code, 'session-mismatch');
        await audited(mark, 'auth.refused', { code: 'session-mismatch' });
      })(),
      // A frame over the size cap.
      (async () => {
        const huge = await HubSocket.connect(fleet.broker.url);
        huge.sendRaw(new Uint8Array(MAX_HUB_FRAME_BYTES + 1));
        assert.equal((await huge.waitClosed(10_000)).code, 1009);
        await audited(mark, 'hub.socket-error');
      })(),
      // Never reads: the broker has megabytes of intents for it; its backpressure cuts it off.
      (async () => {
        silent.hub.socket.pause();
        const content = 'x'.repeat(MAX_WRITE_BYTES);
        for (let i = 0; i < 60 && !fleet.broker.log.find('hub.backpressure', (l) => l.did === silent.rogue.did); i++) {
          await fleet.call('intentsDispatch', { agent: silent.rogue.did, capability: 'write_file', params: { path: `big-${i}.txt`, content, mode: 'create' } });
        }
        const cut = await audited(mark, 'hub.backpressure', { did: silent.rogue.did });
        assert.ok(Number(cut.buffered) > BUDGETS.peerBufferedBytes.limit, `cut off at ${String(cut.buffered)} bytes buffered`);
        await waitFor('the silent rogue to be offline', async () => !(await fleet.call('agentsGet', { did: silent.rogue.did })).online);
      })(),
    ];
    const settled = await bounded('every deviation', Promise.allSettled(deviations), 120_000);
    attacking = false;
    await honestLoop;
    for (const s of settled) if (s.status === 'rejected') throw s.reason;

    process.stdout.write(`compromised agent: ${honest.succeeded} honest intents succeeded during the attack (slowest ${honest.slowestMs} ms), ${honest.other.length} did not\n`);
    assert.deepEqual(honest.other, [], 'an honest intent failed during the attack');
    assert.ok(honest.succeeded >= 3, `only ${honest.succeeded} honest intents ran during the attack`);
    assert.equal(fleet.honest.log.find('hub.disconnected'), undefined, 'the honest agent was never disconnected');
    assertAlive(fleet.broker);
    await fleet.assertHealthy();
    // The silent rogue reads again, so its socket sees the broker's close instead of holding this process open.
    silent.hub.socket.resume();
    for (const r of [a, b, flooder, silent]) r.hub.close();
  });
});
