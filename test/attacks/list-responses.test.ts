import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../core/budgets';
import { RpcErrorCode } from '../../core/rpc/methods';
import { removeDirs, startBroker, tempDir, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen } from '../support/started';
import { peakRssBytes, seedIntents } from './support/seeded-intents';
import { call, joinAs, ownerOf, rpcError, type Member } from './support/team';

exitIfHeldOpen(40_000);

const INTENTS = 1000;
const OUTPUT_BYTES = 64 * 1024;
const MiB = 1024 * 1024;

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/**
 * Threat: a viewer (the lowest role) exhausts the broker's memory and stalls
 * every other user with valid list requests: `intentsList {limit: 1000}` used
 * to inline every output and both signed envelopes, hundreds of MB of JSON
 * built synchronously. The database is seeded through the broker's own stores
 * on its real SQLite file: 1000 finished write_file intents, each with a 64 KiB
 * output and a 64 KiB signed result.
 */
describe('A viewer cannot exhaust the broker with list requests', { timeout: 300_000 }, () => {
  let broker: BrokerProcess;
  let owner: Member;
  let viewer: Member;
  let seeded: { agent: string; ids: string[] };
  const dirs: string[] = [];

  before(async () => {
    const dataDir = tempDir('broker-lists');
    dirs.push(dataDir);
    // Started once so the broker lays out its own data directory, then seeded while stopped.
    await (await startBroker({ dataDir })).stop();
    seeded = await seedIntents(dataDir, { count: INTENTS, outputBytes: OUTPUT_BYTES, resultPayloadBytes: OUTPUT_BYTES });
    broker = await startBroker({ dataDir });
    owner = ownerOf(broker);
    viewer = await joinAs(broker, owner, 'viewer', 'viewer');
  });

  after(async () => {
    viewer?.client.close();
    await broker?.stop();
    removeDirs(...dirs);
  });

  test('paging through 1000 intents with large outputs: every page within its byte budget, the broker’s memory bounded, another user answered meanwhile', async (t) => {
    const rssBefore = peakRssBytes(broker.child.pid!);
    // Another user keeps asking while the viewer pages: each answer must come back promptly.
    let paging = true;
    const latencies: number[] = [];
    const probe = (async () => {
      for (let i = 0; i < 10_000 && paging; i++) {
        const start = performance.now();
        await call(owner, 'brokerInfo', {});
        latencies.push(performance.now() - start);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const seen: string[] = [];
    const pageBytes: number[] = [];
    try {
      let cursor: string | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await call(viewer, 'intentsList', { limit: BUDGETS.listPageItems.limit, ...(cursor ? { cursor } : {}) }, 60_000);
        pageBytes.push(jsonBytes(page));
        assert.ok(pageBytes.at(-1)! <= BUDGETS.listResponseBytes.limit, `a page of ${pageBytes.at(-1)} bytes exceeds BUDGETS.listResponseBytes (${BUDGETS.listResponseBytes.limit})`);
        for (const item of page.items) {
          assert.equal('output' in item || 'signedIntent' in item || 'signedResult' in item, false, 'a list item is a summary');
          seen.push(item.id);
        }
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
    } finally {
      paging = false;
      await probe;
    }
    assert.deepEqual(seen, seeded.ids, 'every intent exactly once, newest first, ties on created_at broken by the cursor');
    const growth = peakRssBytes(broker.child.pid!) - rssBefore;
    assert.ok(growth < 96 * MiB, `the broker's peak memory grew by ${Math.round(growth / MiB)} MiB`);
    t.diagnostic(`${pageBytes.length} pages, largest ${Math.max(...pageBytes)} bytes; peak RSS +${Math.round(growth / MiB)} MiB; ${latencies.length} answers to another user, slowest ${Math.round(Math.max(...latencies))} ms`);
    assert.ok(latencies.length > 0, 'the other user was answered during the paging');
    assert.ok(Math.max(...latencies) < 3000, `another user's request waited ${Math.round(Math.max(...latencies))} ms`);
  });

  test(`a page larger than BUDGETS.listPageItems is invalid params: limit = ${BUDGETS.listPageItems.limit} accepted, ${BUDGETS.listPageItems.limit + 1} refused`, async () => {
    const atBound = await call(viewer, 'intentsList', { limit: BUDGETS.listPageItems.limit });
    assert.equal(atBound.items.length, BUDGETS.listPageItems.limit);
    const error = await rpcError(call(viewer, 'intentsList', { limit: BUDGETS.listPageItems.limit + 1 }));
    assert.equal(error.code, RpcErrorCode.InvalidParams);
    assert.match(error.message, new RegExp(`^limit: .*${BUDGETS.listPageItems.limit}`));
    const forged = await rpcError(call(viewer, 'intentsList', { limit: 10, cursor: 'not-a-cursor!' }));
    assert.equal(forged.code, RpcErrorCode.InvalidParams);
    assert.match(forged.message, /^cursor: /);
  });

  test('every list method takes a page: BUDGETS.listPageItems accepted, one more refused as invalid params', async () => {
    const lists = ['usersList', 'invitationsList', 'grantsList', 'approvalsList', 'agentsList', 'registrationsList', 'intentsList'] as const;
    for (const name of lists) {
      const page = await call(owner, name as 'usersList', { limit: BUDGETS.listPageItems.limit });
      assert.ok(Array.isArray(page.items) && page.items.length <= BUDGETS.listPageItems.limit, name);
      const error = await rpcError(call(owner, name as 'usersList', { limit: BUDGETS.listPageItems.limit + 1 }), name);
      assert.equal(error.code, RpcErrorCode.InvalidParams, name);
      assert.match(error.message, /^limit: /, name);
    }
  });

  test('the output and both signed envelopes come one intent at a time, from intentsGet', async () => {
    const detail = await call(viewer, 'intentsGet', { id: seeded.ids[0]! });
    assert.equal((detail.output as { content: string }).content.length, OUTPUT_BYTES);
    assert.equal(Buffer.from(detail.signedResult!.payload, 'base64').length, OUTPUT_BYTES);
    assert.ok(detail.signedIntent);
    assert.deepEqual(detail.omitted, []);
    assert.ok(jsonBytes(detail) <= BUDGETS.intentDetailBytes.limit);
  });
});

/**
 * The detail budget is larger than a hub frame: a remote user's client must take the largest detail the broker
 * may answer, or reading one large intent over /rpc cuts that user's whole session (ws closes with 1009).
 */
describe('A remote user reads the largest intent detail the broker answers', { timeout: 120_000 }, () => {
  let broker: BrokerProcess;
  let viewer: Member;
  let seeded: { agent: string; ids: string[] };
  const dirs: string[] = [];

  before(async () => {
    const dataDir = tempDir('broker-detail');
    dirs.push(dataDir);
    await (await startBroker({ dataDir })).stop();
    seeded = await seedIntents(dataDir, { count: 1, outputBytes: MiB, resultPayloadBytes: MiB, paramBytes: MiB });
    broker = await startBroker({ dataDir });
    viewer = await joinAs(broker, ownerOf(broker), 'viewer', 'viewer');
  });

  after(async () => {
    viewer?.client.close();
    await broker?.stop();
    removeDirs(...dirs);
  });

  test('a detail over the hub frame size, within BUDGETS.intentDetailBytes, reaches a WebSocket client and its session stays up', async () => {
    const detail = await call(viewer, 'intentsGet', { id: seeded.ids[0]! });
    const bytes = jsonBytes(detail);
    assert.ok(bytes > BUDGETS.hubFrameBytes.limit, `the detail is ${bytes} B: the test needs one over a hub frame`);
    assert.ok(bytes <= BUDGETS.intentDetailBytes.limit, `the detail is ${bytes} B, over its budget`);
    assert.equal((await call(viewer, 'brokerInfo', {})).did, broker.did, 'the session still answers');
  });
});
