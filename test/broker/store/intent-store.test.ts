import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntentStore } from '../../../broker/store/intent-store';
import { HOUR_MS } from '../../../core/policy/intent-gates';
import type { ResultBody } from '../../../core/wire/intent';
import { backends } from './sql/support/backends';
import { envelope, intentBody, sendIntents } from './support/sent-intents';
import { did, hexId } from './support/temp-database';

const result = (id: string, outcome: ResultBody['outcome'], at: number, message: string = outcome): ResultBody => ({
  intentId: id, agent: did(1), outcome, reason: outcome === 'rejected' ? 'rate-limited' : null, message, output: outcome === 'succeeded' ? { ok: true } : null, finishedAt: at,
});

// A restart is a new IntentStore on the same database: nothing of the first one's memory is kept.
for (const backend of backends()) {
  describe(`IntentStore on ${backend.name}`, () => {
    test('sent, running, then one verified result: the result is final, a duplicate is told apart and changes nothing', async () => {
      const storage = await backend.open();
      const intents = await sendIntents(storage, [hexId(1)], did(1), 100);
      assert.equal((await intents.get(hexId(1)))!.state, 'sent');
      assert.equal((await intents.markRunning(hexId(1), 110))!.state, 'running');
      const final = (await intents.recordResult(result(hexId(1), 'succeeded', 120), envelope(), 120))!;
      assert.deepEqual([final.state, final.outcome, final.output], ['succeeded', 'succeeded', { ok: true }]);
      assert.ok(final.signedResult);
      assert.equal(await intents.recordResult(result(hexId(1), 'failed', 130), envelope(), 130), undefined);
      assert.equal(await intents.markRunning(hexId(1), 140), undefined, 'a final intent does not run again');
      const reread = (await (await IntentStore.open(storage, 200)).get(hexId(1)))!;
      assert.deepEqual({ ...reread }, { ...final });
    });

    test('an intent whose agent went away is lost; its late verified result is kept, the state stays lost-agent, and only once', async () => {
      const intents = await sendIntents(await backend.open(), [hexId(1)], did(1), 100);
      assert.equal((await intents.markLost(hexId(1), 'agent gone', 150))!.state, 'lost-agent');
      assert.equal(await intents.markLost(hexId(1), 'again', 160), undefined);
      assert.equal(await intents.recordResult(result(hexId(1), 'succeeded', 170), envelope(), 170), undefined, 'not as a normal result');
      const late = (await intents.recordLateResult(result(hexId(1), 'succeeded', 170), envelope(), 170))!;
      assert.deepEqual([late.state, late.outcome, late.message], ['lost-agent', 'succeeded', 'succeeded']);
      assert.ok(late.signedResult);
      assert.equal(await intents.recordLateResult(result(hexId(1), 'failed', 180), envelope(), 180), undefined);
      assert.equal((await intents.get(hexId(1)))!.outcome, 'succeeded');
    });

    test('a result, a loss and a cancel of one intent at once, from two stores (two broker nodes): exactly one ends it, and the row is that one', async () => {
      const storage = await backend.open();
      const a = await sendIntents(storage, [hexId(1), hexId(2), hexId(3)], did(1), 100);
      const b = await IntentStore.open(storage, 100);
      for (const id of [hexId(1), hexId(2), hexId(3)]) {
        const ends = await Promise.all([
          a.recordResult(result(id, 'succeeded', 110), envelope(), 110),
          b.markLost(id, 'agent gone', 110),
          a.markCancelled(id, 'cancelled by its requester', 110),
          b.recordResult(result(id, 'failed', 110), envelope(), 110),
        ]);
        const winners = ends.filter((v) => v !== undefined);
        assert.equal(winners.length, 1, `${id}: ${ends.map((v) => v?.state).join(', ')}`);
        const row = (await (await IntentStore.open(storage, 200)).get(id))!;
        assert.deepEqual([row.state, row.message], [winners[0]!.state, winners[0]!.message]);
      }
    });

    test('an intent refused by the broker is final at once, rejected by the broker, and not in flight', async () => {
      const intents = await sendIntents(await backend.open(), [], did(1), 100);
      const refused = await intents.recordRefused(intentBody(hexId(1), did(1), 100), 'capability-not-granted', 'no', 100);
      assert.deepEqual([refused.state, refused.rejectedBy, refused.reason, refused.signedIntent], ['rejected', 'broker', 'capability-not-granted', null]);
      assert.deepEqual((await intents.get(hexId(1)))!.state, 'rejected');
      assert.deepEqual(await intents.inFlight(did(1)), []);
      assert.equal(await intents.sentSince(did(1), 0), 0, 'a refused intent was never sent');
    });

    test('in flight: sent and running intents, per agent, found again after a restart', async () => {
      const storage = await backend.open();
      const intents = await sendIntents(storage, [hexId(1), hexId(2), hexId(3)], did(1), 100);
      await sendIntents(storage, [hexId(4)], did(3), 100);
      await intents.markRunning(hexId(2), 110);
      await intents.recordResult(result(hexId(3), 'failed', 120), envelope(), 120);
      const reread = await IntentStore.open(storage, 200);
      assert.deepEqual((await reread.inFlight(did(1))).map((i) => [i.id, i.state]).sort(), [[hexId(1), 'sent'], [hexId(2), 'running']]);
      assert.deepEqual((await reread.agentsWithIntentsInFlight()).sort(), [did(1), did(3)]);
    });

    test('the hourly rate counts intents sent in the last hour, drops those the agent refused, and is rebuilt at start', async () => {
      const storage = await backend.open();
      const t0 = 10 * HOUR_MS;
      const intents = await sendIntents(storage, [hexId(1), hexId(2), hexId(3)], did(1), t0);
      await intents.recordResult(result(hexId(3), 'rejected', t0 + 1), envelope(), t0 + 1);
      await intents.recordResult(result(hexId(2), 'succeeded', t0 + 1), envelope(), t0 + 1);
      assert.equal(await intents.sentSince(did(1), t0 - HOUR_MS), 2);
      assert.equal(await intents.sentSince(did(3), t0 - HOUR_MS), 0);
      const reread = await IntentStore.open(storage, t0 + HOUR_MS - 1);
      assert.equal(await reread.sentSince(did(1), t0 - 1), 2, 'still within the hour after a restart');
      assert.equal(await (await IntentStore.open(storage, t0 + HOUR_MS)).sentSince(did(1), t0), 0, 'a process started an hour later counts none');
    });

    test('recordSentWithin: below the limit it records; at the limit it writes nothing; a refusal by the agent frees a slot', async () => {
      const storage = await backend.open();
      const t0 = 10 * HOUR_MS;
      const intents = await sendIntents(storage, [hexId(1)], did(1), t0);
      const hourly = { since: t0 - HOUR_MS, max: 2 };
      assert.equal((await intents.recordSentWithin(intentBody(hexId(2), did(1), t0), envelope(), t0, undefined, hourly))!.state, 'sent');
      assert.equal(await intents.recordSentWithin(intentBody(hexId(3), did(1), t0), envelope(), t0, 'vscode-lm', hourly), undefined);
      assert.equal(await intents.get(hexId(3)), undefined, 'nothing written');
      await intents.recordResult(result(hexId(1), 'rejected', t0 + 1), envelope(), t0 + 1);
      assert.equal((await intents.recordSentWithin(intentBody(hexId(3), did(1), t0 + 2), envelope(), t0 + 2, 'vscode-lm', hourly))!.via, 'vscode-lm');
    });

    test('recordSentWithin with one request left, twelve dispatches at once (on PostgreSQL through two stores, as two broker nodes): exactly one is recorded, round after round', async () => {
      const storage = await backend.open();
      const t0 = 10 * HOUR_MS;
      const first = await sendIntents(storage, [hexId(1), hexId(2)], did(1), t0);
      // On SQLite one broker process owns the file: its one store is the guard. On PostgreSQL a second node's
      // store shares the table; the dispatches run on the pool's connections at once (warm from the second round).
      const nodes = backend.name === 'postgres' ? [first, await IntentStore.open(storage, t0)] : [first];
      for (let round = 0; round < 4; round++) {
        const hourly = { since: t0 - HOUR_MS, max: 3 + round };
        const ids = Array.from({ length: 12 }, (_, i) => hexId(100 + 12 * round + i));
        const views = await Promise.all(ids.map((id, i) => nodes[i % nodes.length]!.recordSentWithin(intentBody(id, did(1), t0 + 1), envelope(), t0 + 1, undefined, hourly)));
        assert.equal(views.filter((v) => v !== undefined).length, 1, `round ${round}: one request was left`);
        const fresh = await IntentStore.open(storage, t0 + 2);
        assert.equal(await fresh.sentSince(did(1), t0 - HOUR_MS), hourly.max, 'the rows say the same');
        assert.equal((await Promise.all(ids.map((id) => fresh.get(id)))).filter((v) => v !== undefined).length, 1, 'the refused ones wrote nothing');
      }
    });

    test('text with U+0000 from a peer (an agent result message, a cancel or refusal message, params) is kept alike on both backends, never a database error', async () => {
      const storage = await backend.open();
      const intents = await sendIntents(storage, [hexId(1), hexId(2)], did(1), 100);
      const nul = 'before\u0000after';
      const signed = { payload: Buffer.from(JSON.stringify({ message: nul })), signature: envelope().signature };
      const final = (await intents.recordResult(result(hexId(1), 'failed', 110, nul), signed, 110))!;
      assert.equal(final.message, 'before\uFFFDafter', 'shown with a replacement character');
      assert.equal(JSON.parse(Buffer.from(final.signedResult!.payload, 'base64').toString()).message, nul, 'the signed result keeps the original');
      assert.equal((await intents.markCancelled(hexId(2), nul, 120))!.message, 'before\uFFFDafter');
      const refused = await intents.recordRefused(intentBody(hexId(3), did(1), 130, { content: nul, [nul]: 1 }), 'bad-params', nul, 130);
      assert.equal(refused.message, 'before\uFFFDafter');
      await intents.recordSent(intentBody(hexId(4), did(1), 140, { content: nul }), envelope(), 140);
      const reread = await IntentStore.open(storage, 200);
      assert.deepEqual({ ...(await reread.get(hexId(1)))! }, { ...final });
      assert.equal((await reread.get(hexId(2)))!.message, 'before\uFFFDafter');
      assert.deepEqual((await reread.get(hexId(3)))!.params, { content: nul, [nul]: 1 }, 'params are JSON: kept exactly');
      assert.equal((await reread.detail(hexId(4)))!.params.content, nul);
      const listed = (await reread.list({}, { limit: 10 })).items.find((i) => i.id === hexId(3))!;
      assert.deepEqual([listed.message, listed.params.content], ['before\uFFFDafter', nul]);
    });

    test('lists are newest first, all intents or one agent’s, as summaries without output or envelopes', async () => {
      const storage = await backend.open();
      const intents = await sendIntents(storage, [], did(1), 100);
      await sendIntents(storage, [], did(3), 100);
      await intents.recordSent(intentBody(hexId(1), did(1), 100), envelope(), 100);
      await intents.recordSent(intentBody(hexId(2), did(3), 200), envelope(), 200);
      await intents.recordSent(intentBody(hexId(3), did(1), 300), envelope(), 300);
      await intents.recordSent(intentBody(hexId(4), did(3), 300), envelope(), 300);
      const all = await intents.list({}, { limit: 10 });
      assert.deepEqual(all.items.map((i) => i.id), [hexId(4), hexId(3), hexId(2), hexId(1)], 'ties on the time in the reverse order of insertion');
      assert.equal('signedIntent' in all.items[0]!, false);
      assert.deepEqual((await intents.list({ agent: did(1) }, { limit: 10 })).items.map((i) => i.id), [hexId(3), hexId(1)]);
      const first = await intents.list({}, { limit: 3 });
      assert.deepEqual((await intents.list({}, { limit: 3, cursor: first.nextCursor! })).items.map((i) => i.id), [hexId(1)]);
    });

    test('a detail of a small intent is whole, with nothing omitted; an unknown id has none', async () => {
      const intents = await sendIntents(await backend.open(), [hexId(1)], did(1), 100);
      await intents.recordResult(result(hexId(1), 'succeeded', 120), envelope(), 120);
      const detail = (await intents.detail(hexId(1)))!;
      assert.deepEqual(detail.omitted, []);
      assert.deepEqual(detail.output, { ok: true });
      assert.ok(detail.signedIntent && detail.signedResult);
      assert.equal(await intents.detail(hexId(9)), undefined);
    });
  });
}
