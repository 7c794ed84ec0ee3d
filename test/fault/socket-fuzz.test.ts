/**
 * Fuzzing over real sockets, against a real broker process: hostile hub
 * frames at each handshake state (before INIT, after STEP1, authenticated),
 * hostile JSON-RPC on the /rpc WebSocket (before and after a user proved
 * their id) and on the local socket. Each input must end in a refusal the
 * client can see (an error frame or response with its code, or a close with
 * its code) — never silence, never a crash — and an honest agent keeps
 * running intents throughout. Counts are printed when the file ends.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import { BrokerClient } from '../../broker/cli/broker-client';
import { loadLocalOperator } from '../../broker/local-operator';
import { LOCAL_SOCKET } from '../../broker/rpc/local-socket';
import { IdType, SecretIdentity } from '../../core/identity';
import { Methods, RpcErrorCode, SessionMethods } from '../../core/rpc/methods';
import { encodeFrame } from '../../core/wire/frame-codec';
import { HUB_PROTOCOL_VERSION } from '../../core/wire/hub-messages';
import { assertAlive, bounded, Fleet } from '../attacks/support/fleet';
import { waitFor } from '../support/processes';
import { HubSocket, RogueAgent } from '../attacks/support/rogue-agent';
import { fuzzParameters, InputCounter } from './support/fuzz-budget';
import { hostileBytes, hostileValue } from './support/hostile-bytes';

const counter = new InputCounter();
let fleet: Fleet;
before(async () => {
  // One input at a time, each checked for its own audit line, from a new pending agent where a state needs one:
  // the strangers' budgets (full refusal lines per interval, pending registrations; test/attacks/hub-edge.test.ts and
  // pending-registrations.test.ts) are raised past the inputs of this file, which fuzzes the decoders, not them.
  fleet = await Fleet.start(['--refusal-audit-lines', '100000', '--max-pending-registrations', '100000', '--max-pending-per-address', '100000']);
});
after(async () => {
  process.stdout.write(`${counter.report('fuzz (real sockets, real broker process)')}\n`);
  await fleet?.stop();
});

/** Ends when the broker answered the input: an error frame, a handshake step, or a close. Bounded: silence is a hang. */
async function answerTo(hub: HubSocket, frames: number): Promise<string> {
  return bounded(
    'the broker to answer a hostile frame',
    new Promise<string>((resolve) => {
      const poll = setInterval(() => {
        const answer = hub.frames.slice(frames).find((f) => f.type === 'error' || f.type === 'auth/step1' || f.type === 'auth/accepted');
        if (answer) resolve(answer.type === 'error' ? answer.code : answer.type);
        else if (hub.closed) resolve(`close ${hub.closed.code}`);
        else return;
        clearInterval(poll);
      }, 5);
    }),
    5000,
  );
}

describe('fuzz over the hub WebSocket, at each handshake state', () => {
  const rogue = () => new RogueAgent(SecretIdentity.generate(IdType.Machine), fleet.broker.url, fleet.broker.did);

  async function sample() {
    const r = rogue();
    const { hub, handshake } = await r.authenticate();
    hub.close();
    const envelope = r.result({ intentId: 'a'.repeat(32), outcome: 'succeeded', reason: null, message: '', output: null });
    return [
      encodeFrame({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: handshake.initiator.init }),
      encodeFrame({ type: 'auth/complete', challenge: handshake.complete }),
      encodeFrame({ type: 'result', envelope }),
      encodeFrame({ type: 'progress', envelope }),
      encodeFrame({ type: 'approval/request', envelope }),
    ];
  }

  const states = {
    'before INIT': async () => ({ hub: await HubSocket.connect(fleet.broker.url) }),
    'after STEP1': async () => {
      const hub = await HubSocket.connect(fleet.broker.url);
      await rogue().begin(hub);
      return { hub };
    },
    authenticated: async () => ({ hub: (await rogue().authenticate()).hub }),
  };

  for (const [state, open] of Object.entries(states)) {
    test(`${state}: every hostile frame is answered with its refusal code or a close, and audited`, async () => {
      const samples = await sample();
      await fc.assert(
        fc.asyncProperty(hostileBytes(samples), async (bytes) => {
          counter.count(`hub ${state}`);
          const { hub } = await open();
          const mark = fleet.broker.log.lines.length;
          const frames = hub.frames.length;
          hub.sendRaw(bytes);
          const answer = await answerTo(hub, frames);
          counter.outcome(`hub ${state}`, answer);
          hub.close();
          // A mutated frame can still be a valid INIT (from a new, pending agent): that is an answer, not a refusal.
          if (answer === 'auth/step1' || answer === 'auth/accepted') return;
          await bounded(
            'the refusal in the audit log',
            (async () => {
              while (!fleet.broker.log.lines.slice(mark).some((l) => Number(l.level) >= 40)) await new Promise((r) => setTimeout(r, 5));
            })(),
            5000,
          );
        }),
        fuzzParameters(120, 25_000),
      );
      assertAlive(fleet.broker);
    });
  }

  test('after the hub fuzzing, the honest agent was never disconnected and still runs intents', async () => {
    assert.equal(fleet.honest.log.find('hub.disconnected'), undefined);
    await fleet.assertHealthy();
  });
});

/** JSON-RPC messages: shaped like requests (every method, hostile params and ids), or not JSON-RPC at all. */
const methodNames = [...Object.values(Methods).map((m) => m.method), SessionMethods.init.method, SessionMethods.complete.method];
const hostileRpc = fc.oneof(
  fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat(), method: fc.constantFrom(...methodNames), params: hostileValue }).map((m) => JSON.stringify(m)),
  fc.record({ jsonrpc: fc.constant('2.0'), id: fc.nat(), method: fc.string({ maxLength: 40 }), params: fc.jsonValue() }).map((m) => JSON.stringify(m)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
);

const PROBE = JSON.stringify({ jsonrpc: '2.0', id: 'probe', method: Methods.brokerInfo.method, params: {} });

/** The answer a JSON-RPC connection gives after a hostile message and a probe: an error code, the probe's answer, or a close. */
function rpcAnswer(messages: () => Record<string, unknown>[], closed: () => string | undefined): Promise<string> {
  return bounded(
    'the broker to answer on JSON-RPC',
    new Promise<string>((resolve) => {
      const poll = setInterval(() => {
        const responses = messages().filter((m) => 'id' in m && ('error' in m || 'result' in m));
        const hostile = responses.find((m) => m.id !== 'probe');
        const probe = responses.find((m) => m.id === 'probe');
        const close = closed();
        if (hostile) resolve(hostile.error ? `error ${(hostile.error as { code: number }).code}` : 'result');
        else if (probe) resolve(`probe ${probe.error ? (probe.error as { code: number }).code : 'result'}`);
        else if (close) resolve(close);
        else return;
        clearInterval(poll);
      }, 5);
    }),
    5000,
  );
}

describe('fuzz over JSON-RPC', () => {
  test('/rpc WebSocket, before authentication: every message is refused (Unauthenticated, InvalidParams, MethodNotFound) or closes the connection; never an internal error', async () => {
    await fc.assert(
      fc.asyncProperty(hostileRpc, fc.boolean(), async (text, binary) => {
        counter.count('/rpc unauthenticated');
        const socket = new WebSocket(`${fleet.broker.url}/rpc`);
        const messages: Record<string, unknown>[] = [];
        let closed: string | undefined;
        socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
        socket.on('close', (code) => (closed = `close ${code}`));
        socket.on('error', () => undefined);
        await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
        socket.send(binary ? Buffer.from(text) : text);
        if (socket.readyState === WebSocket.OPEN) socket.send(PROBE);
        const answer = await rpcAnswer(() => messages, () => closed);
        counter.outcome('/rpc unauthenticated', answer);
        socket.terminate();
        assert.ok(!answer.endsWith(String(RpcErrorCode.Internal)), `internal error for ${text}`);
        assert.notEqual(answer, 'probe result', 'an unauthenticated probe was answered');
      }),
      fuzzParameters(150, 20_000),
    );
    assertAlive(fleet.broker);
  });

  test('/rpc WebSocket, as the owner: every method with hostile params is refused with its code, never an internal error, and the session keeps working', async () => {
    const owner = await BrokerClient.connectRemote(fleet.broker.url, fleet.broker.did, loadLocalOperator(fleet.broker.dataDir), { name: 'fuzzing owner' });
    try {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...Object.values(Methods).map((m) => m.method)), hostileValue, async (method, params) => {
          counter.count('/rpc as owner');
          const answer = await bounded(
            method,
            owner.connection.sendRequest(method, params).then(
              () => 'result',
              (err: { code?: number }) => `error ${err.code}`,
            ),
            5000,
          );
          counter.outcome('/rpc as owner', answer);
          assert.notEqual(answer, `error ${RpcErrorCode.Internal}`, `${method} ${JSON.stringify(params)} crashed a handler`);
        }),
        fuzzParameters(300, 20_000),
      );
      // A fuzzer on the network spends its request budget (BUDGETS.rpcRequestUnitsPerSecond: -32029, a refusal with its
      // code like any other): the session answers again once the second is over.
      await waitFor('the session to answer again', () =>
        owner.call('brokerInfo', {}).then(
          () => true,
          (err: { code?: number }) => {
            if (err.code === RpcErrorCode.RateLimited) return false;
            throw err;
          },
        ),
      5_000, 200);
    } finally {
      owner.close();
    }
    await fleet.assertHealthy();
  });

  test('local socket: hostile framing and messages are refused or close the connection; never a hang, and the broker keeps serving', async () => {
    const path = join(fleet.broker.dataDir, LOCAL_SOCKET);
    const framed = (text: string) => `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
    const hostileFraming = fc.oneof(
      hostileRpc.map(framed),
      fc.tuple(fc.integer({ min: -5, max: 10 }), hostileRpc).map(([length, text]) => `Content-Length: ${length}\r\n\r\n${text}`),
      fc.string({ maxLength: 200 }).map((junk) => `${junk}\r\n\r\n`),
    );
    await fc.assert(
      fc.asyncProperty(hostileFraming, async (bytes) => {
        counter.count('local socket');
        const socket: Socket = connect(path);
        let buffered = '';
        let closed: string | undefined;
        socket.on('data', (d) => (buffered += d.toString()));
        socket.on('close', () => (closed = 'closed'));
        socket.on('error', () => undefined);
        await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
        socket.write(bytes);
        socket.write(framed(PROBE));
        // A header that declares more bytes than were sent (the probe included) leaves the broker rightly waiting for them.
        const declared = /^Content-Length: (\d+)\r\n\r\n/.exec(bytes);
        if (declared && Number(declared[1]) > Buffer.byteLength(bytes) - declared[0].length + Buffer.byteLength(framed(PROBE))) {
          counter.outcome('local socket', 'waits for the declared length');
          socket.destroy();
          return;
        }
        const messages = () =>
          buffered
            .split(/Content-Length: \d+\r\n\r\n/)
            .filter(Boolean)
            .flatMap((m) => {
              try {
                return [JSON.parse(m) as Record<string, unknown>];
              } catch {
                return [];
              }
            });
        const answer = await rpcAnswer(messages, () => closed);
        counter.outcome('local socket', answer);
        socket.destroy();
        assert.ok(!answer.endsWith(String(RpcErrorCode.Internal)), `internal error for ${JSON.stringify(bytes)}`);
        assert.notEqual(answer, 'probe result', 'an unauthenticated probe was answered');
      }),
      fuzzParameters(150, 20_000),
    );
    assertAlive(fleet.broker);
    await fleet.assertHealthy();
  });
});
