import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { IdType, SecretIdentity } from '../../../core/identity';
import type { IntentBody, ResultBody } from '../../../core/wire/intent';
import { IntentStore } from '../../../broker/store/intent-store';
import type { Storage } from '../../../broker/store/sql/storage';
import { summarizeParams } from '../../../broker/store/summary-params';
import { backends } from './sql/support/backends';

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
/** What the client receives: the page inside its JSON-RPC response. */
const responseBytes = (result: unknown) => jsonBytes({ jsonrpc: '2.0', id: 2 ** 31, result });

/** The sizes of a recorded intent's parts. */
interface Sizes {
  content?: number;
  output?: number;
  resultPayload?: number;
  intentPayload?: number;
}

/** The intent store on each backend: a real SQLite file, a real PostgreSQL database. */
for (const backend of backends()) {
  describe(`intent pages and details are bounded in bytes (intent store on ${backend.name})`, () => {
    const agent = SecretIdentity.generate(IdType.Machine);
    const user = SecretIdentity.generate(IdType.Person);

    /** A fresh database with one agent, its intent store, and recordIntent to fill it. */
    async function intentStore(): Promise<{ storage: Storage; intents: IntentStore; recordIntent: (sizes: Sizes) => Promise<string> }> {
      let clock = 1_000_000;
      const storage = await backend.open();
      await storage.db
        .insertInto('agents')
        .values({ did: agent.did, id_b64: agent.id.toBase64(), name: 'a', requested: '["write_file"]', status: 'approved', first_seen: clock, last_seen: clock })
        .execute();
      const intents = await IntentStore.open(storage, clock);
      /** A finished write_file whose parts have the sizes asked for: what a compromised agent and a large write can make them. */
      const recordIntent = async (sizes: Sizes): Promise<string> => {
        const id = randomBytes(16).toString('hex');
        const at = ++clock;
        const body: IntentBody = {
          id,
          agent: agent.did,
          capability: 'write_file',
          params: { path: 'big.txt', content: 'c'.repeat(sizes.content ?? 8) },
          user: user.did,
          delegation: { payload: randomBytes(32), signature: randomBytes(64) },
          revocationVersion: 0,
          issuedAt: at,
          expiresAt: at + 60_000,
        };
        await intents.recordSent(body, { payload: Buffer.alloc(sizes.intentPayload ?? 512, 0x69), signature: randomBytes(64) }, at);
        const output = sizes.output === undefined ? null : { content: 'o'.repeat(sizes.output) };
        const result: ResultBody = { intentId: id, agent: agent.did, outcome: 'succeeded', reason: null, message: 'ok', output, finishedAt: at };
        await intents.recordResult(result, { payload: Buffer.alloc(sizes.resultPayload ?? 512, 0x72), signature: randomBytes(64) }, at);
        return id;
      };
      return { storage, intents, recordIntent };
    }

    test('BUDGETS.listResponseBytes: a page of intents whose params are megabyte writes stays a small page of summaries', async () => {
      const { intents, recordIntent } = await intentStore();
      for (let i = 0; i < 20; i++) await recordIntent({ content: 1024 * 1024, output: 64 * 1024 });
      const page = await intents.list({ agent: agent.did }, { limit: BUDGETS.listPageItems.limit });
      assert.ok(page.items.length >= 20);
      assert.ok(responseBytes(page) <= BUDGETS.listResponseBytes.limit);
      const big = page.items[0]!;
      assert.equal(big.paramsTruncated, true);
      assert.equal(String(big.params.content).length, BUDGETS.summaryTextChars.limit + 1, 'cut to the budget, with an ellipsis');
    });

    test('BUDGETS.summaryTextChars: a string param of exactly the budget is shown whole; one character more is cut and flagged', async () => {
      const { intents, recordIntent } = await intentStore();
      const chars = BUDGETS.summaryTextChars.limit;
      // ["y…y"] is the string plus 4 characters of JSON.
      const atBound = summarizeParams({ path: 'a', content: 'x'.repeat(chars), args: ['y'.repeat(chars - 4)] });
      assert.deepEqual(atBound, { params: { path: 'a', content: 'x'.repeat(chars), args: ['y'.repeat(chars - 4)] }, truncated: false });
      const overBound = summarizeParams({ path: 'a', content: 'x'.repeat(chars + 1) });
      assert.deepEqual(overBound, { params: { path: 'a', content: `${'x'.repeat(chars)}…` }, truncated: true });
      const nested = summarizeParams({ args: ['y'.repeat(chars - 3)] });
      assert.equal(nested.truncated, true, 'a nested value whose JSON passes the budget is shown as the start of its JSON');
      assert.equal(nested.params.args, `${JSON.stringify(['y'.repeat(chars - 3)]).slice(0, chars)}…`);
      const manyKeys = summarizeParams(Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v'.repeat(chars)])));
      assert.equal(manyKeys.truncated, true);
      assert.ok(jsonBytes(manyKeys.params) < 16 * chars, `${jsonBytes(manyKeys.params)} bytes for 10 000 keys`);

      // Through the store: the list shows the summary, the detail the whole params.
      const id = await recordIntent({ content: chars + 1 });
      const listed = (await intents.list({}, { limit: 1 })).items[0]!;
      assert.equal(listed.id, id);
      assert.equal(listed.paramsTruncated, true);
      assert.equal((await intents.detail(id))!.params.content, 'c'.repeat(chars + 1));
    });

    test('rows written before summaries existed: small params are summarized when read, large ones are shown empty and flagged', async () => {
      const { storage, intents, recordIntent } = await intentStore();
      const small = await recordIntent({ content: 10 });
      const large = await recordIntent({ content: 64 * 1024 });
      await storage.db.updateTable('intents').set({ params_summary: null, params_truncated: null }).where('id', 'in', [small, large]).execute();
      const [l, s] = (await intents.list({}, { limit: 2 })).items;
      assert.deepEqual([s!.id, s!.params, s!.paramsTruncated], [small, { path: 'big.txt', content: 'c'.repeat(10) }, false]);
      assert.deepEqual([l!.id, l!.params, l!.paramsTruncated], [large, {}, true]);
    });

    test('BUDGETS.intentDetailBytes: the largest output with which the whole detail fits is served whole; one byte more and a part is omitted and named; never over the budget', async () => {
      const { intents, recordIntent } = await intentStore();
      const detailOf = async (output: number) => (await intents.detail(await recordIntent({ output })))!;
      let kept = 0;
      let omitted = BUDGETS.intentDetailBytes.limit;
      for (let i = 0; i < 40 && omitted - kept > 1; i++) {
        const mid = Math.floor((kept + omitted) / 2);
        if ((await detailOf(mid)).omitted.length === 0) kept = mid;
        else omitted = mid;
      }
      const atBound = await detailOf(kept);
      assert.deepEqual(atBound.omitted, []);
      assert.equal((atBound.output as { content: string }).content.length, kept);
      assert.ok(jsonBytes(atBound) <= BUDGETS.intentDetailBytes.limit, `${jsonBytes(atBound)} bytes at the bound`);
      assert.ok(kept > BUDGETS.intentDetailBytes.limit - 8 * 1024, `only ${kept} bytes of output fit a ${BUDGETS.intentDetailBytes.limit}-byte budget`);
      // Parts are given up last first: the output, then the signed result, then the signed intent are kept in that order.
      const overBound = await detailOf(kept + 1);
      assert.deepEqual(overBound.omitted, ['signedIntent']);
      assert.equal(overBound.signedIntent, null);
      assert.equal((overBound.output as { content: string }).content.length, kept + 1, 'what fits is still there');
      assert.ok(jsonBytes(overBound) <= BUDGETS.intentDetailBytes.limit);
      const outputOverBound = await detailOf(BUDGETS.intentDetailBytes.limit + 1);
      assert.deepEqual(outputOverBound.omitted, ['output']);
      assert.equal(outputOverBound.output, null);
      assert.ok(outputOverBound.signedResult && outputOverBound.signedIntent);
    });

    test('BUDGETS.intentDetailBytes: every part at the frame limit (a compromised agent, a maximal write): the detail stays within the budget', async () => {
      const { intents, recordIntent } = await intentStore();
      const max = BUDGETS.hubFrameBytes.limit;
      const agentsOutput = (await intents.detail(await recordIntent({ output: max, resultPayload: max })))!;
      assert.deepEqual(agentsOutput.omitted, ['signedResult'], 'the output is kept, the signed result repeating it does not fit beside it');
      assert.ok(jsonBytes(agentsOutput) <= BUDGETS.intentDetailBytes.limit);
      const everything = (await intents.detail(await recordIntent({ content: max, intentPayload: max, output: max, resultPayload: max })))!;
      assert.ok(jsonBytes(everything) <= BUDGETS.intentDetailBytes.limit, `${jsonBytes(everything)} bytes`);
      assert.deepEqual(everything.omitted, ['output', 'signedResult', 'signedIntent']);
      assert.equal(everything.params.content, 'c'.repeat(max));
    });
  });
}
