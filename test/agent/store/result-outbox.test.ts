import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { openAgentDatabase } from '../../../agent/store/agent-database';
import { ResultOutbox } from '../../../agent/store/result-outbox';
import { SeenIntentStore } from '../../../agent/store/seen-intents';
import { IdType, seal, SecretIdentity } from '../../../core/identity';
import { RunnerHarness } from '../../attacks/support/runner-harness';
import { tempDatabasePath } from './support/temp-database';

const id = () => randomBytes(16).toString('hex');

describe('ResultOutbox', () => {
  test('keeps a result across a reopen until it is removed, and storing it marks its claimed id answered', () => {
    const path = tempDatabasePath();
    const signer = SecretIdentity.generate(IdType.Machine);
    const [answered, interrupted] = [id(), id()];
    let db = openAgentDatabase(path);
    const seen = new SeenIntentStore(db);
    assert.ok(seen.record(answered, 1) && seen.record(interrupted, 2));
    const envelope = seal(signer, 'vaultysclaw/result/v1', { intentId: answered });
    new ResultOutbox(db).put(answered, envelope);
    db.close();

    db = openAgentDatabase(path);
    try {
      const outbox = new ResultOutbox(db);
      assert.deepEqual(outbox.get(answered), envelope);
      assert.deepEqual(outbox.all(), [envelope]);
      assert.deepEqual(outbox.unanswered(), [interrupted], 'claimed with no result: the agent stopped while holding it');
      outbox.remove(answered);
      assert.equal(outbox.get(answered), undefined);
      assert.deepEqual(outbox.unanswered(), [interrupted], 'an acknowledged result stays answered');
    } finally {
      db.close();
    }
  });
});

describe('IntentRunner and its kept results', () => {
  const harnesses: RunnerHarness[] = [];
  const harness = () => {
    const h = new RunnerHarness();
    harnesses.push(h);
    return h;
  };
  after(() => harnesses.forEach((h) => h.cleanup()));

  test('a result not acknowledged before a restart is resent on the next attach; an acknowledged one is not', async () => {
    const h = harness();
    const [kept, acked] = [h.intent(), h.intent()];
    await h.expectSucceeded(h.seal(kept), kept.id);
    await h.expectSucceeded(h.seal(acked), acked.id);
    h.runner.acknowledge(acked.id);
    h.frames.length = 0;
    h.restart();
    const resent = h.frames.flatMap((f) => (f.type === 'result' ? [h.verifyResult(f.envelope)] : []));
    assert.deepEqual(resent.map((r) => [r.intentId, r.outcome]), [[kept.id, 'succeeded']]);
  });

  test('a replayed or forged delivery of an intent never replaces its kept result', async () => {
    const h = harness();
    const body = h.intent();
    const envelope = h.seal(body);
    await h.expectSucceeded(envelope, body.id);
    await h.expectRefused(envelope, body.id, 'replay');
    await h.expectRefused(h.seal(body, SecretIdentity.generate(IdType.Machine)), body.id, 'bad-signature');
    h.frames.length = 0;
    h.restart();
    const resent = h.frames.flatMap((f) => (f.type === 'result' ? [h.verifyResult(f.envelope)] : []));
    assert.deepEqual(resent.map((r) => [r.intentId, r.outcome, r.reason]), [[body.id, 'succeeded', null]]);
  });

  test('an intent claimed but never answered (the agent stopped) gets a signed failure at the next start, and is not run again', async () => {
    const h = harness();
    const body = h.intent();
    assert.ok(new SeenIntentStore(h.db).record(body.id, body.issuedAt), 'claimed as the runner does, just before a kill');
    h.frames.length = 0;
    h.restart();
    const [result] = h.frames.flatMap((f) => (f.type === 'result' ? [h.verifyResult(f.envelope)] : []));
    assert.deepEqual([result?.intentId, result?.outcome], [body.id, 'failed']);
    assert.match(result!.message, /stopped while it held this intent; it is not run again/);
    await h.expectRefused(h.seal(body), body.id, 'replay');
    assert.equal(h.executedCount(), 0);
  });

  test('many kept results are resent in batches below the hub frame rate, all of them in the end', async () => {
    const h = harness();
    const outbox = new ResultOutbox(h.db);
    for (let i = 0; i < 230; i++) outbox.put(id(), seal(h.agent, 'vaultysclaw/result/v1', { n: i }));
    const sent: number[] = [];
    h.runner.attach(() => sent.push(Date.now()));
    assert.equal(sent.length, 50, 'the first batch at once');
    await new Promise((r) => setTimeout(r, 2600));
    assert.equal(sent.length, 230);
    const perSecond = Math.max(...sent.map((t) => sent.filter((u) => u >= t && u < t + 1000).length));
    assert.ok(perSecond <= 150, `${perSecond} results within one second`);
  });
});
