import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BUDGETS } from '../../../core/budgets';
import { IdType, SecretIdentity } from '../../../core/identity';
import type { IntentBody, ResultBody } from '../../../core/wire/intent';
import { AgentRegistry } from '../../../broker/store/agent-registry';
import { openDatabase, type BrokerDatabase } from '../../../broker/store/database';
import { IntentStore } from '../../../broker/store/intent-store';
import { PAGE_ENVELOPE_BYTES } from '../../../broker/store/keyset-page';
import { summarizeParams } from '../../../broker/store/summary-params';
import { UserStore } from '../../../broker/store/user-store';
import { removeDirs, tempDir } from '../../support/processes';

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
/** What the client receives: the page inside its JSON-RPC response. */
const responseBytes = (result: unknown) => jsonBytes({ jsonrpc: '2.0', id: 2 ** 31, result });

/** The broker's own stores on a real SQLite file in a temp directory. */
describe('list pages and intent details are bounded in bytes (broker stores on a real SQLite file)', () => {
  let dir: string;
  let db: BrokerDatabase;
  let intents: IntentStore;
  const agent = SecretIdentity.generate(IdType.Machine);
  const user = SecretIdentity.generate(IdType.Person);
  let clock = 1_000_000;

  before(() => {
    dir = tempDir('list-pages');
    db = openDatabase(join(dir, 'broker.db'));
    new AgentRegistry(db).recordSeen(agent.did, agent.id.toBase64(), { name: 'a', requested: ['write_file'], agentVersion: 't' }, clock);
    intents = new IntentStore(db, clock);
  });

  after(() => {
    db.close();
    removeDirs(dir);
  });

  /** A finished write_file whose parts have the sizes asked for: what a compromised agent and a large write can make them. */
  function recordIntent(sizes: { content?: number; output?: number; resultPayload?: number; intentPayload?: number }): string {
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
    intents.recordSent(body, { payload: Buffer.alloc(sizes.intentPayload ?? 512, 0x69), signature: randomBytes(64) }, at);
    const output = sizes.output === undefined ? null : { content: 'o'.repeat(sizes.output) };
    const result: ResultBody = { intentId: id, agent: agent.did, outcome: 'succeeded', reason: null, message: 'ok', output, finishedAt: at };
    intents.recordResult(result, { payload: Buffer.alloc(sizes.resultPayload ?? 512, 0x72), signature: randomBytes(64) }, at);
    return id;
  }

  test('BUDGETS.listResponseBytes: items that fill a page to the byte are one page; one byte more ends the page early with a cursor to the rest', () => {
    const users = new UserStore(db);
    const people = [SecretIdentity.generate(IdType.Person), SecretIdentity.generate(IdType.Person)];
    people.forEach((p, i) => users.add({ did: p.did, idBase64: p.id.toBase64(), name: `u${i}`, role: 'viewer', invitedBy: null }, i));
    // Each item is a JSON string of the size chosen here: n characters cost n + 2 bytes, plus a comma.
    const first = 1000;
    const fill = BUDGETS.listResponseBytes.limit - PAGE_ENVELOPE_BYTES - (first + 3) - 3;
    const sized = (second: number) => (r: { did: string }) => 'x'.repeat(r.did === people[0]!.did ? first : second);

    const atBound = users.page({ limit: 10 }, sized(fill));
    assert.equal(atBound.items.length, 2);
    assert.equal(atBound.nextCursor, null);
    assert.ok(responseBytes(atBound) <= BUDGETS.listResponseBytes.limit, `${responseBytes(atBound)} bytes`);

    const overBound = users.page({ limit: 10 }, sized(fill + 1));
    assert.equal(overBound.items.length, 1, 'the page ends before the item that would outgrow it');
    assert.ok(overBound.nextCursor);
    const rest = users.page({ limit: 10, cursor: overBound.nextCursor }, sized(fill + 1));
    assert.deepEqual(rest.items.map((s) => s.length), [fill + 1], 'the item comes on the next page, not lost');
    assert.equal(rest.nextCursor, null);
  });

  test('BUDGETS.listResponseBytes: a page of intents whose params are megabyte writes stays a small page of summaries', () => {
    for (let i = 0; i < 20; i++) recordIntent({ content: 1024 * 1024, output: 64 * 1024 });
    const page = intents.list({ agent: agent.did }, { limit: BUDGETS.listPageItems.limit });
    assert.ok(page.items.length >= 20);
    assert.ok(responseBytes(page) <= BUDGETS.listResponseBytes.limit);
    const big = page.items[0]!;
    assert.equal(big.paramsTruncated, true);
    assert.equal(String(big.params.content).length, BUDGETS.summaryTextChars.limit + 1, 'cut to the budget, with an ellipsis');
  });

  test('BUDGETS.summaryTextChars: a string param of exactly the budget is shown whole; one character more is cut and flagged', () => {
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
    const id = recordIntent({ content: chars + 1 });
    const listed = intents.list({}, { limit: 1 }).items[0]!;
    assert.equal(listed.id, id);
    assert.equal(listed.paramsTruncated, true);
    assert.equal(intents.detail(id)!.params.content, 'c'.repeat(chars + 1));
  });

  test('rows written before summaries existed: small params are summarized when read, large ones are shown empty and flagged', () => {
    const small = recordIntent({ content: 10 });
    const large = recordIntent({ content: 64 * 1024 });
    db.prepare('UPDATE intents SET params_summary = NULL, params_truncated = NULL WHERE id IN (?, ?)').run(small, large);
    const [l, s] = intents.list({}, { limit: 2 }).items;
    assert.deepEqual([s!.id, s!.params, s!.paramsTruncated], [small, { path: 'big.txt', content: 'c'.repeat(10) }, false]);
    assert.deepEqual([l!.id, l!.params, l!.paramsTruncated], [large, {}, true]);
  });

  test('BUDGETS.intentDetailBytes: the largest output with which the whole detail fits is served whole; one byte more and a part is omitted and named; never over the budget', () => {
    const detailOf = (output: number) => intents.detail(recordIntent({ output }))!;
    let kept = 0;
    let omitted = BUDGETS.intentDetailBytes.limit;
    for (let i = 0; i < 40 && omitted - kept > 1; i++) {
      const mid = Math.floor((kept + omitted) / 2);
      if (detailOf(mid).omitted.length === 0) kept = mid;
      else omitted = mid;
    }
    const atBound = detailOf(kept);
    assert.deepEqual(atBound.omitted, []);
    assert.equal((atBound.output as { content: string }).content.length, kept);
    assert.ok(jsonBytes(atBound) <= BUDGETS.intentDetailBytes.limit, `${jsonBytes(atBound)} bytes at the bound`);
    assert.ok(kept > BUDGETS.intentDetailBytes.limit - 8 * 1024, `only ${kept} bytes of output fit a ${BUDGETS.intentDetailBytes.limit}-byte budget`);
    // Parts are given up last first: the output, then the signed result, then the signed intent are kept in that order.
    const overBound = detailOf(kept + 1);
    assert.deepEqual(overBound.omitted, ['signedIntent']);
    assert.equal(overBound.signedIntent, null);
    assert.equal((overBound.output as { content: string }).content.length, kept + 1, 'what fits is still there');
    assert.ok(jsonBytes(overBound) <= BUDGETS.intentDetailBytes.limit);
    const outputOverBound = detailOf(BUDGETS.intentDetailBytes.limit + 1);
    assert.deepEqual(outputOverBound.omitted, ['output']);
    assert.equal(outputOverBound.output, null);
    assert.ok(outputOverBound.signedResult && outputOverBound.signedIntent);
  });

  test('BUDGETS.intentDetailBytes: every part at the frame limit (a compromised agent, a maximal write): the detail stays within the budget', () => {
    const max = BUDGETS.hubFrameBytes.limit;
    const agentsOutput = intents.detail(recordIntent({ output: max, resultPayload: max }))!;
    assert.deepEqual(agentsOutput.omitted, ['signedResult'], 'the output is kept, the signed result repeating it does not fit beside it');
    assert.ok(jsonBytes(agentsOutput) <= BUDGETS.intentDetailBytes.limit);
    const everything = intents.detail(recordIntent({ content: max, intentPayload: max, output: max, resultPayload: max }))!;
    assert.ok(jsonBytes(everything) <= BUDGETS.intentDetailBytes.limit, `${jsonBytes(everything)} bytes`);
    assert.deepEqual(everything.omitted, ['output', 'signedResult', 'signedIntent']);
    assert.equal(everything.params.content, 'c'.repeat(max));
  });
});
