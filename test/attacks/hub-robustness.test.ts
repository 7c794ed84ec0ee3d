/**
 * Hub robustness: hostile bytes at the broker's WebSocket edge (oversized,
 * undecodable, text, schema-invalid, floods, silent clients) close the
 * offending connection with its reason; the broker and every other agent keep
 * working.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { Broker } from '../../broker/broker';
import { IdType, seal, SecretIdentity } from '../../core/identity';
import { encodeFrame } from '../../core/wire/frame-codec';
import { MAX_HUB_FRAME_BYTES } from '../../core/wire/hub-messages';
import { startAgent, waitFor } from '../support/processes';
import { approve, finalIntent, Fleet } from './support/fleet';
import { HubSocket, RogueAgent } from './support/rogue-agent';

let fleet: Fleet;
before(async () => {
  fleet = await Fleet.start();
});
after(async () => {
  await fleet?.stop();
});

/** The broker's audited hub.bad-frame line for this code, logged after `mark`. */
function badFrameLogged(mark: number, code: string) {
  return waitFor(`broker hub.bad-frame ${code}`, () => fleet.broker.log.lines.slice(mark).find((l) => l.event === 'hub.bad-frame' && l.code === code));
}

async function expectFrameRefused(send: (hub: HubSocket) => void, code: string): Promise<void> {
  const hub = await HubSocket.connect(fleet.broker.url);
  const mark = fleet.broker.log.lines.length;
  send(hub);
  const error = await hub.next('error');
  assert.equal(error.code, code, error.message);
  assert.deepEqual(await hub.waitClosed(), { code: 4000, reason: code });
  await badFrameLogged(mark, code);
  await fleet.assertHealthy();
}

describe('hub robustness: hostile frames fail closed, the broker stays up', () => {
  test('Resource exhaustion: a frame of 2 MiB + 1 byte closes the connection with 1009 (message too big)', async () => {
    const hub = await HubSocket.connect(fleet.broker.url);
    hub.sendRaw(new Uint8Array(MAX_HUB_FRAME_BYTES + 1));
    const closed = await hub.waitClosed();
    assert.equal(closed.code, 1009);
    assert.equal(hub.frames.length, 0);
    await fleet.assertHealthy();
  });

  test('Malformed input: garbage binary bytes → error frame malformed, connection closed', async () => {
    await expectFrameRefused((hub) => hub.sendRaw(new Uint8Array([0xc1, 0xff, 0x00, 0x13, 0x37])), 'malformed');
  });

  test('Malformed input: a non-canonical MessagePack frame (a fixstr re-encoded as str8) → malformed', async () => {
    // {type: "auth/init"} with the value as str8 (0xd9) where canonical MessagePack uses fixstr.
    const nonCanonical = new Uint8Array(Buffer.concat([Buffer.from([0x81, 0xa4]), Buffer.from('type'), Buffer.from([0xd9, 9]), Buffer.from('auth/init')]));
    await expectFrameRefused((hub) => hub.sendRaw(nonCanonical), 'malformed');
  });

  test('Malformed input: a text frame → malformed (frames must be binary)', async () => {
    await expectFrameRefused((hub) => hub.sendRaw(JSON.stringify({ type: 'auth/init' }), false), 'malformed');
  });

  test('Malformed input: schema-invalid frames (unknown type; a result without an envelope) → bad-schema', async () => {
    await expectFrameRefused((hub) => hub.send({ type: 'become-admin', did: 'did:vaultys:00' }), 'bad-schema');
    await expectFrameRefused((hub) => hub.send({ type: 'result', envelope: 'not bytes' }), 'bad-schema');
  });

  test('Unconstrained request rate (hub): 500 frames in one second close the connection with 4008', async () => {
    // Approved: a pending agent's first progress frame already ends its connection (not-approved).
    const { rogue, hub } = await fleet.approvedRogue('progress-flood');
    const mark = fleet.broker.log.lines.length;
    // Valid, signed, harmless frames: only their number is wrong.
    const progress = { intentId: '0'.repeat(32), agent: rogue.did, seq: 0, stream: 'status', text: 'flood', at: Date.now() };
    const frame = encodeFrame({ type: 'progress', envelope: seal(rogue.identity, 'vaultysclaw/progress/v1', progress) });
    for (let i = 0; i < 500 && hub.socket.readyState === hub.socket.OPEN; i++) hub.sendRaw(frame);
    assert.deepEqual(await hub.waitClosed(), { code: 4008, reason: 'rate limit' });
    const line = await waitFor('hub.rate-limited', () => fleet.broker.log.lines.slice(mark).find((l) => l.event === 'hub.rate-limited'));
    assert.equal(line.did, rogue.did);
    await fleet.assertHealthy();
  });

  test('Unconstrained request rate (hub): results are exempt only when owed: 500 signed results for intents never sent close the connection with 4008', async () => {
    const { rogue, hub } = await fleet.approvedRogue('unowed-results');
    const mark = fleet.broker.log.lines.length;
    const frames = Array.from({ length: 500 }, () =>
      encodeFrame({ type: 'result', envelope: rogue.result({ intentId: randomBytes(16).toString('hex'), outcome: 'succeeded', reason: null, message: 'unasked', output: { entries: [] } }) }),
    );
    for (const frame of frames) if (hub.socket.readyState === hub.socket.OPEN) hub.sendRaw(frame);
    assert.deepEqual(await hub.waitClosed(), { code: 4008, reason: 'rate limit' });
    const line = await waitFor('hub.rate-limited', () => fleet.broker.log.lines.slice(mark).find((l) => l.event === 'hub.rate-limited'));
    assert.equal(line.did, rogue.did);
    await fleet.assertHealthy();
  });

  test('Unconstrained request rate (hub) must not cap an honest answer rate: 300 results sent in one burst for 300 intents the broker sent are all recorded', async () => {
    const { rogue, hub, handshake } = await fleet.approvedRogue('fast-answers', { capabilities: ['list_files'], maxRequestsPerHour: 10_000 });
    const sent = [];
    for (let i = 0; i < 300; i++) sent.push(await fleet.call('intentsDispatch', { agent: rogue.did, capability: 'list_files', params: { path: '.' } }));
    assert.deepEqual(new Set(sent.map((v) => v.state)), new Set(['sent']));
    const results = [];
    for (let i = 0; i < 300; i++) {
      const intent = rogue.openIntent((await hub.next('intent')).envelope, handshake.certificate.responder);
      results.push(encodeFrame({ type: 'result', envelope: rogue.result({ intentId: intent.id, outcome: 'succeeded', reason: null, message: 'done', output: { entries: [], truncated: false } }) }));
    }
    for (const frame of results) hub.sendRaw(frame);
    for (const view of sent) assert.equal((await finalIntent(fleet.broker, view.id)).state, 'succeeded');
    assert.equal(hub.closed, undefined, 'the connection stays open');
    assert.equal(fleet.broker.log.find('hub.rate-limited', (l) => l.did === rogue.did), undefined);
    hub.close();
    await fleet.assertHealthy();
  });

  test('Unconstrained request rate (hub) must not cut off an honest agent: a command printing 400 short lines streams its progress and its intent succeeds', async () => {
    const chatty = fleet.track(await startAgent({ brokerUrl: fleet.broker.url, brokerDid: fleet.broker.did, name: 'chatty' }));
    await approve(fleet.broker, chatty, ['read_file', 'list_files', 'run_command']);
    const script = 'for i in $(seq 1 400); do echo line $i; sleep 0.002; done';
    const sent = await fleet.call('intentsDispatch', { agent: chatty.did, capability: 'run_command', params: { command: 'sh', args: ['-c', script], cwd: '.', timeoutMs: 30_000 } });
    assert.equal(sent.state, 'sent');
    const done = await finalIntent(fleet.broker, sent.id, 30_000);
    const cutOff = fleet.broker.log.find('hub.rate-limited', (l) => l.did === chatty.did);
    // Let the agent reconnect and resend its signed result: the broker's record does not change any more.
    if (cutOff) {
      await waitFor('the chatty agent to reconnect', () => {
        const at = chatty.log.lines.findIndex((l) => l.event === 'hub.disconnected');
        return at >= 0 && chatty.log.lines.slice(at).some((l) => l.event === 'auth.succeeded' && l.status === 'approved');
      });
      await new Promise((r) => setTimeout(r, 300));
    }
    const final = await fleet.call('intentsGet', { id: sent.id });
    assert.deepEqual(
      { cutOff: cutOff ? 'hub.rate-limited (4008)' : null, state: final.state },
      { cutOff: null, state: 'succeeded' },
      `the broker recorded ${done.state} (${done.message}) for a command that ran`,
    );
    await fleet.assertHealthy();
  });


  test('Unauthenticated client: a client that never authenticates is closed with 4002 by the handshake timeout (in-process Broker, handshakeTimeoutMs 300)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vc-attack-inproc-'));
    const broker = await Broker.open({ dataDir, identity: SecretIdentity.generate(IdType.Machine), log: pino({ level: 'silent' }) });
    try {
      const url = await broker.startHub({ host: '127.0.0.1', port: 0, handshakeTimeoutMs: 300 });
      const silent = await HubSocket.connect(url);
      const started = Date.now();
      const closed = await silent.waitClosed(3000);
      assert.deepEqual(closed, { code: 4002, reason: 'handshake timeout' });
      assert.ok(Date.now() - started >= 250, 'closed by the timer, not at once');
      // An agent that authenticates in time is not cut off by the same timer.
      const honest = new RogueAgent(SecretIdentity.generate(IdType.Machine), url, broker.identity.did);
      const { hub } = await honest.authenticate();
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(hub.closed, undefined);
      hub.close();
    } finally {
      await broker.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('After every attack above, the honest agent never lost its connection and still runs intents', async () => {
    assert.equal(fleet.honest.log.find('hub.disconnected'), undefined);
    await fleet.assertHealthy();
  });
});
