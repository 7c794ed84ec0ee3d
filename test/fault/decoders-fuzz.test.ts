/**
 * Property-based fuzzing, in process and for volume, of every decoder that
 * sees outside bytes: hub frames both ways, the Challenger handshake at each
 * of its states, and — behind a valid signature, where only a compromised peer
 * can reach — results, progress, approval requests (broker side) and intents,
 * delegation certificates, revocation lists and approval decisions (agent
 * side). Every input must be refused with a reason; nothing may throw, run,
 * or change state. Short in `npm test`; VAULTYSCLAW_FUZZ_RUNS for a long run
 * (test/fault/support/fuzz-budget.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { Broker } from '../../broker/broker';
import { AgentConnection } from '../../broker/hub/agent-connection';
import { bytesEqual, ChallengeInitiator, ChallengeResponder, IdType, seal, SecretIdentity, type SealedEnvelope } from '../../core/identity';
import { decodeFrame, encodeFrame } from '../../core/wire/frame-codec';
import { AGENT_AUTH, AgentFrame, BrokerFrame, HUB_PROTOCOL_VERSION, MAX_HUB_FRAME_BYTES } from '../../core/wire/hub-messages';
import { RunnerHarness, policy, T0 } from '../attacks/support/runner-harness';
import { fuzzParameters, InputCounter } from './support/fuzz-budget';
import { hostileBytes, hostileValue } from './support/hostile-bytes';

const counter = new InputCounter();
after(() => process.stdout.write(`${counter.report('fuzz (in-process decoders)')}\n`));

const FRAME_CODES = new Set(['oversized', 'malformed', 'bad-schema']);
const agentHello = { name: 'fuzz', requested: ['list_files' as const], agentVersion: '0' };

/** A valid body with 1–3 fields replaced by hostile values, one deleted, or one added. */
function corrupted<T extends Record<string, unknown>>(valid: T): fc.Arbitrary<Record<string, unknown>> {
  const keys = Object.keys(valid);
  const replace = fc
    .array(fc.tuple(fc.constantFrom(...keys), hostileValue), { minLength: 1, maxLength: 3 })
    .map((edits) => Object.assign({ ...valid }, Object.fromEntries(edits)) as Record<string, unknown>);
  const remove = fc.constantFrom(...keys).map((k) => Object.fromEntries(Object.entries(valid).filter(([key]) => key !== k)));
  const extra = fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), hostileValue).map(([k, v]) => ({ ...valid, [k === 'type' ? 'x' : k]: v }));
  return fc.oneof(replace, remove, extra);
}

/** Seals a body if it can be signed at all (canonical encoding refuses floats, undefined…); an attacker gets no further either. */
function trySeal(signer: SecretIdentity, ctx: Parameters<typeof seal>[1], body: Record<string, unknown>): SealedEnvelope | undefined {
  try {
    return seal(signer, ctx, body);
  } catch {
    return undefined;
  }
}

function agentInitiator(identity: SecretIdentity): ChallengeInitiator {
  return new ChallengeInitiator({ identity, ...AGENT_AUTH, metadata: agentHello, acceptResponder: () => ({ ok: true, value: undefined }) });
}

describe('fuzz: hub frames and the handshake, in process', () => {
  const broker = SecretIdentity.generate(IdType.Machine);
  const agent = SecretIdentity.generate(IdType.Machine);
  const responder = () =>
    new ChallengeResponder({ identity: broker, ...AGENT_AUTH, admit: () => ({ ok: true, value: { metadata: policy() } }) });

  /** A fresh session through INIT, STEP1 and COMPLETE (COMPLETE not yet delivered). */
  const transcript = () => {
    const initiator = agentInitiator(agent);
    const r = responder();
    const accepted = r.accept(initiator.init);
    assert.ok(accepted.ok);
    const responded = initiator.respond(accepted.value.step1);
    assert.ok(responded.ok);
    return { initiator, responder: r, step1: accepted.value.step1, complete: responded.value.complete };
  };
  // One genuine transcript gives the valid samples every mutation starts from.
  const genuine = transcript();
  const { initiator } = genuine;
  const envelope = seal(agent, 'vaultysclaw/result/v1', { x: 1 });
  const agentFrames = [
    encodeFrame({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: initiator.init }),
    encodeFrame({ type: 'auth/complete', challenge: genuine.complete }),
    encodeFrame({ type: 'result', envelope }),
    encodeFrame({ type: 'progress', envelope }),
    encodeFrame({ type: 'approval/request', envelope }),
  ];
  const brokerFrames = [
    encodeFrame({ type: 'auth/step1', challenge: genuine.step1 }),
    encodeFrame({ type: 'auth/accepted', status: 'approved' }),
    encodeFrame({ type: 'intent', envelope }),
    encodeFrame({ type: 'result/ack', intentId: 'a'.repeat(32) }),
    encodeFrame({ type: 'update_capabilities', policyVersion: 3 }),
    encodeFrame({ type: 'revocations', envelope }),
    encodeFrame({ type: 'error', code: 'x', message: 'y' }),
  ];

  for (const [name, schema, samples] of [
    ['agent → broker frame', AgentFrame, agentFrames],
    ['broker → agent frame', BrokerFrame, brokerFrames],
  ] as const) {
    test(`${name}: hostile bytes decode to a frame of the schema or a refusal with its code, never a throw`, () => {
      fc.assert(
        fc.property(hostileBytes(samples), (bytes) => {
          counter.count(name);
          const frame = decodeFrame(schema as typeof AgentFrame, bytes, MAX_HUB_FRAME_BYTES);
          counter.outcome(name, frame.ok ? 'decoded' : frame.code);
          if (frame.ok) assert.ok(schema.safeParse(frame.value).success);
          else assert.ok(FRAME_CODES.has(frame.code) && frame.message.length > 0, JSON.stringify(frame));
        }),
        fuzzParameters(3000, 8000),
      );
    });
  }

  test('handshake, responder waiting for INIT: hostile INITs are refused with a reason before anything is signed', () => {
    fc.assert(
      fc.property(hostileBytes([initiator.init]), (bytes) => {
        counter.count('challenger INIT (responder waiting)');
        const r = responder();
        const result = r.accept(bytes);
        counter.outcome('challenger INIT (responder waiting)', result.ok ? 'accepted' : result.reason);
        // A mutation can still be a well-formed INIT from someone (INIT is unsigned); anything else is refused.
        if (!result.ok) assert.ok(result.reason && result.message, JSON.stringify(result));
        assert.equal(r.state, result.ok ? 'step1' : 'error');
      }),
      fuzzParameters(1500, 8000),
    );
  });

  /** A live session up to the message under test; `deliver` hands it an edited copy of that message. */
  const liveSessions = [
    {
      decoder: 'challenger COMPLETE (responder after STEP1)',
      title: 'handshake, responder after STEP1: only the genuine COMPLETE passes',
      sample: genuine.complete,
      session: () => {
        const live = transcript();
        return { live: live.complete, deliver: (bytes: Uint8Array) => live.responder.complete(bytes) };
      },
    },
    {
      decoder: 'challenger STEP1 (initiator after INIT)',
      title: 'handshake, initiator after INIT: only the genuine STEP1 is co-signed',
      sample: genuine.step1,
      session: () => {
        const init = agentInitiator(agent);
        const step1 = responder().accept(init.init);
        assert.ok(step1.ok);
        return { live: step1.value.step1, deliver: (bytes: Uint8Array) => init.respond(bytes) };
      },
    },
  ];
  for (const { decoder, title, sample, session } of liveSessions) {
    test(`${title}; every other one is refused with a reason`, () => {
      fc.assert(
        fc.property(hostileBytes([sample]), (bytes) => {
          counter.count(decoder);
          const { live, deliver } = session();
          // The edit made to the sample is carried over to this session's own message, so only a no-op edit may pass.
          const mutated = hostileBytesApply(bytes, sample, live);
          const result = deliver(mutated);
          counter.outcome(decoder, result.ok ? 'accepted' : result.reason);
          assert.equal(result.ok, bytesEqual(mutated, live), result.ok ? 'a changed message was accepted' : result.reason);
          if (!result.ok) assert.ok(result.message.length > 0);
        }),
        fuzzParameters(800, 8000),
      );
    });
  }
});

/**
 * The arbitrary mutates the sample transcript; a live session has other nonces,
 * so carry the same edit over: where the input still starts like the sample
 * (same length, differing bytes), apply the differences to the live message.
 */
function hostileBytesApply(input: Uint8Array, sample: Uint8Array, live: Uint8Array): Uint8Array {
  if (input.length !== sample.length || live.length !== sample.length) return input;
  const out = new Uint8Array(live);
  for (let i = 0; i < input.length; i++) if (input[i] !== sample[i]) out[i] = input[i]!;
  return out;
}

describe('fuzz: what a compromised agent can sign, at the broker', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'vc-fuzz-broker-'));
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  let broker: Broker;
  before(async () => {
    broker = await Broker.open({ dataDir, identity: SecretIdentity.generate(IdType.Machine), log });
  });
  const agent = SecretIdentity.generate(IdType.Machine);
  after(async () => {
    await broker.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A fresh connection of `agent` with a completed handshake, and the frames the broker sends on it. */
  async function authenticated() {
    const sent: BrokerFrame[] = [];
    let closed: number | undefined;
    const connection = new AgentConnection(broker.keys, broker, { send: (f) => sent.push(f), close: (code) => (closed = code) }, log);
    const init = agentInitiator(agent);
    await connection.handle({ type: 'auth/init', v: HUB_PROTOCOL_VERSION, challenge: init.init });
    const step1 = sent.find((f) => f.type === 'auth/step1');
    assert.ok(step1 && step1.type === 'auth/step1');
    const answer = init.respond(step1.challenge);
    assert.ok(answer.ok);
    await connection.handle({ type: 'auth/complete', challenge: answer.value.complete });
    assert.equal(connection.did, agent.did);
    sent.length = 0;
    return { connection, sent, closed: () => closed };
  }

  const validResult = { intentId: 'b'.repeat(32), agent: agent.did, outcome: 'succeeded', reason: null, message: 'ok', output: null, finishedAt: T0 };
  const validProgress = { intentId: 'b'.repeat(32), agent: agent.did, seq: 0, stream: 'stdout', text: 'x', at: T0 };
  const validApproval = {
    requestId: 'c'.repeat(32), intentId: 'b'.repeat(32), agent: agent.did, user: agent.did, capability: 'write_file',
    params: {}, cwd: '/ws', requestedAt: T0, expiresAt: T0 + 1000,
  };

  for (const [type, ctx, valid] of [
    ['result', 'vaultysclaw/result/v1', validResult],
    ['progress', 'vaultysclaw/progress/v1', validProgress],
    ['approval/request', 'vaultysclaw/approval-request/v1', validApproval],
  ] as const) {
    test(`${type}: signed by the agent but corrupted, or tampered bytes → refused with a code and audited; nothing is recorded`, async () => {
      const hostile = fc.oneof(
        corrupted(valid).map((body) => trySeal(agent, ctx, body)),
        hostileBytes([seal(agent, ctx, valid).payload]).map((payload) => ({ payload, signature: seal(agent, ctx, valid).signature })),
      );
      await fc.assert(
        fc.asyncProperty(hostile, async (envelope) => {
          if (!envelope) return;
          counter.count(`broker: signed ${type}`);
          const { connection, sent } = await authenticated();
          const before = lines.length;
          await connection.handle({ type, envelope } as AgentFrame);
          const error = sent.find((f) => f.type === 'error');
          counter.outcome(`broker: signed ${type}`, error?.type === 'error' ? error.code : 'none');
          assert.ok(error && error.type === 'error' && error.code.length > 0, `no refusal for ${type}: ${JSON.stringify(sent.map((f) => f.type))}`);
          assert.ok(lines.slice(before).some((l) => l.level === 40 && typeof l.event === 'string'), 'the refusal is audited');
          assert.equal((await broker.intents.list({ agent: agent.did }, { limit: 1 })).items.length, 0);
          assert.equal((await broker.approvals.list(undefined, { limit: 1 })).items.length, 0);
        }),
        fuzzParameters(600, 10_000),
      );
    });
  }
});

describe('fuzz: what reaches the agent behind the broker key', () => {
  const h = new RunnerHarness(policy({ capabilities: ['read_file', 'list_files', 'write_file'], approvalRequired: ['write_file'] }));
  after(() => h.cleanup());

  test('intents, signed but corrupted (delegation certificates included) or tampered: each is refused with a signed reason or an audited log line, and nothing runs', async () => {
    const validBody = () => h.intent({ capability: 'list_files', params: { path: '.' } });
    const template = validBody();
    const delegationBody = { id: 'd'.repeat(32), user: h.user.did, agent: h.agent.did, capabilities: ['list_files'], issuedAt: T0, expiresAt: T0 + 60_000 };
    const hostile = fc.oneof(
      // A fresh id for each (unless the id is what was corrupted), so the gates past the replay check are reached.
      fc
        .tuple(corrupted(template), fc.uint8Array({ minLength: 16, maxLength: 16 }))
        .map(([body, id]) => (body.id === template.id ? { ...body, id: Buffer.from(id).toString('hex') } : body))
        .map((body) => trySeal(h.broker, 'vaultysclaw/intent/v1', body)),
      corrupted(delegationBody).map((d) => trySeal(h.broker, 'vaultysclaw/delegation/v1', d)).map((delegation) => delegation && h.seal({ ...validBody(), delegation })),
      hostileBytes([h.seal(validBody()).payload]).map((payload) => ({ payload, signature: h.seal(validBody()).signature })),
    );
    await fc.assert(
      fc.asyncProperty(hostile, async (envelope) => {
        if (!envelope) return;
        counter.count('agent: intent');
        const executedBefore = h.executedCount();
        const logsBefore = h.logs.length;
        const results = await h.deliver(envelope);
        counter.outcome('agent: intent', results[0]?.reason ?? results[0]?.outcome ?? 'refused unsigned');
        const refused = results.every((r) => r.outcome === 'rejected' && r.reason !== null);
        const logged = h.logs.slice(logsBefore).some((l) => l.event === 'intent.refused' || l.event === 'intent.rejected');
        // A corrupted field can land on a value that is still valid (a list_files of another path): then it may run.
        const stillValid = results.some((r) => r.outcome !== 'rejected');
        if (!stillValid) {
          assert.ok(refused && logged, `not refused with a reason: ${JSON.stringify(results)}`);
          assert.equal(h.executedCount(), executedBefore, 'a refused intent ran');
        }
      }),
      fuzzParameters(500, 15_000),
    );
  });

  test('revocation lists, signed but corrupted or tampered: refused or ignored as older, never replacing the list held', () => {
    const valid = { version: 5, issuedAt: T0, delegations: [], users: [] };
    h.runner.updateRevocations(seal(h.broker, 'vaultysclaw/revocation-list/v1', valid), h.session);
    const hostile = fc.oneof(
      corrupted(valid).map((body) => trySeal(h.broker, 'vaultysclaw/revocation-list/v1', body)),
      hostileBytes([seal(h.broker, 'vaultysclaw/revocation-list/v1', valid).payload]).map((payload) => ({ payload, signature: new Uint8Array(64) })),
    );
    fc.assert(
      fc.property(hostile, (envelope) => {
        if (!envelope) return;
        counter.count('agent: revocation list');
        const before = h.logs.length;
        h.runner.updateRevocations(envelope, h.session);
        const updated = h.logs.slice(before).find((l) => l.event === 'revocations.updated');
        counter.outcome('agent: revocation list', updated ? 'updated' : h.logs.length > before ? 'refused' : 'older, ignored');
        // Only a well-formed list signed by the broker and newer than v5 may replace it.
        if (updated) assert.ok(Number(updated.version) > 5);
      }),
      fuzzParameters(800, 8000),
    );
  });

  test('approval decisions, corrupted or tampered, for a tool call that waits: refused with a reason; the call still waits and the genuine decision still works', async () => {
    const body = h.intent({ capability: 'write_file', params: { path: 'reviewed.txt', content: 'x', mode: 'create' } });
    const running = h.runner.handle(h.seal(body), h.session);
    const request = h.approvalRequests().find((r) => r.intentId === body.id);
    assert.ok(request);
    const genuine = h.decision(request, 'approve');
    const decisionBody = {
      requestId: request.requestId, intentId: request.intentId, agent: request.agent, decision: 'approve', reason: null, reviewer: h.reviewer.did, decidedAt: T0,
    };
    const hostile = fc.oneof(
      corrupted(decisionBody).map((d) => trySeal(h.reviewer, 'vaultysclaw/approval-decision/v1', d)).map((decision) => decision && { ...genuine, decision }),
      hostileBytes([genuine.countersignature.payload]).map((payload) => ({ ...genuine, countersignature: { ...genuine.countersignature, payload } })),
      hostileBytes([genuine.reviewerId]).map((reviewerId) => ({ ...genuine, reviewerId })),
      fc.constant({ ...h.decision(request, 'approve', h.user) }),
    );
    fc.assert(
      fc.property(hostile, (bundle) => {
        // A corruption can land back on the genuine bytes (a null reason replaced by null): that one is no attack.
        if (!bundle || (['decision', 'countersignature'] as const).every((k) => bytesEqual(bundle[k].payload, genuine[k].payload)) && bytesEqual(bundle.reviewerId, genuine.reviewerId)) return;
        counter.count('agent: approval decision');
        const before = h.logs.length;
        h.runner.onApprovalDecision(bundle, h.session);
        const refusal = h.logs.slice(before).find((l) => l.event === 'approval.refused');
        counter.outcome('agent: approval decision', String(refusal?.detail ?? 'none').split(':')[0]!.slice(0, 40));
        assert.ok(refusal && typeof refusal.detail === 'string' && refusal.detail.length > 0, 'refused with a reason');
      }),
      fuzzParameters(600, 8000),
    );
    h.runner.onApprovalDecision(genuine, h.session);
    await running;
    assert.equal(h.logs.filter((l) => l.event === 'approval.granted' && l.intentId === body.id).length, 1);
  });
});
