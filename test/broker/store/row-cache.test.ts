// The cache of rows read at every handshake (agents, policies) now that a read awaits its query: a write may run
// while a read is on its way. A read that overlapped a write must not be kept, or a revoked agent would stay cached
// as approved until its next write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RowCache } from '../../../broker/store/row-cache';

const SQLITE = { dialect: 'sqlite' } as const;

/** A load whose answer the test gives when it chooses: the row as it was when the query ran. */
function slowLoad(): { load: () => Promise<string>; answer: (row: string) => void; calls: () => number } {
  let calls = 0;
  let answer: (row: string) => void = () => undefined;
  return {
    load: () => {
      calls++;
      return new Promise<string>((resolve) => (answer = resolve));
    },
    answer: (row) => answer(row),
    calls: () => calls,
  };
}

test('a read that resolves after a write of its key ended is returned but not cached: the next read loads again', async () => {
  const cache = new RowCache<string>(SQLITE);
  const slow = slowLoad();
  const reading = cache.read('agent', slow.load);
  await cache.write('agent', async () => undefined);
  slow.answer('approved');
  assert.equal(await reading, 'approved');
  assert.equal(await cache.read('agent', async () => 'revoked'), 'revoked');
  assert.equal(await cache.read('agent', async () => 'never loaded'), 'revoked', 'the fresh row is kept');
});

test('a read overlapping a write of another key is not cached either (a write may not name every key it changes)', async () => {
  const cache = new RowCache<string>(SQLITE);
  const slow = slowLoad();
  const reading = cache.read('a', slow.load);
  await cache.write([], async () => undefined);
  slow.answer('old');
  await reading;
  assert.equal(await cache.read('a', async () => 'new'), 'new');
});

test('a read with no write around it is cached; a write drops it as it begins and as it ends, even when it throws', async () => {
  const cache = new RowCache<string>(SQLITE);
  assert.equal(await cache.read('a', async () => 'v1'), 'v1');
  assert.equal(await cache.read('a', async () => 'unused'), 'v1');
  await assert.rejects(
    cache.write('a', async () => {
      assert.equal(await cache.read('a', async () => 'inside'), 'inside', 'dropped as the write begins');
      throw new Error('rolled back');
    }),
    /rolled back/,
  );
  assert.equal(await cache.read('a', async () => 'after'), 'after', 'what was read inside the write is not kept after it');
  cache.forget(['a']);
  assert.equal(await cache.read('a', async () => 'forgotten'), 'forgotten');
  assert.equal(await cache.read('missing', async () => undefined), undefined);
  assert.equal(await cache.read('missing', async () => 'found later'), 'found later', 'an absent row is never cached');
});

test('on PostgreSQL nothing is kept: another broker node may have written the row since (a revocation, a policy)', async () => {
  const cache = new RowCache<string>({ dialect: 'postgres' });
  assert.equal(await cache.read('agent', async () => 'approved'), 'approved');
  assert.equal(await cache.read('agent', async () => 'revoked by another node'), 'revoked by another node');
});
