/**
 * A user keeps the broker's one event loop busy with valid requests (BUDGETS.rpcRequestUnitsPerSecond): the limiter
 * at its bound and bound + 1 on a clock the test moves, then a real broker flooded over /rpc by a viewer, from two
 * sessions at once, while another user is still served and the audit log gets one line per second, not one per request.
 * And what waits (BUDGETS.rpcRequestsInFlight): with PostgreSQL stalled, a viewer's requests pile up only to the bound.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { requestUnits, UserRequestRate } from '../../broker/rpc/user-request-rate';
import { UserRequestsInFlight } from '../../broker/rpc/user-requests-in-flight';
import { startPostgres, type PostgresServer } from '../support/postgres';
import { BUDGETS } from '../../core/budgets';
import { RpcErrorCode } from '../../core/rpc/methods';
import { rpcErrorReason } from '../../core/rpc/rpc-error';
import { type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { auditLines, call, connectAs, joinAs, ownerOf, type Member } from './support/team';

exitIfHeldOpen();
const LIMIT = BUDGETS.rpcRequestUnitsPerSecond.limit;
const ALICE = 'did:vaultys:' + 'a'.repeat(40);
const BOB = 'did:vaultys:' + 'b'.repeat(40);

describe('the request budget, on a clock the test moves', () => {
  test(`${LIMIT} units in one second are admitted, the next is refused (audited once), and the next second starts afresh`, () => {
    let now = 5_000_000;
    const rate = new UserRequestRate(() => now);
    for (let i = 0; i < LIMIT; i++) assert.equal(rate.take(ALICE, 1), 'admitted', `unit ${i + 1}`);
    assert.equal(rate.take(ALICE, 1), 'refused-first', 'the bound + 1');
    assert.equal(rate.take(ALICE, 1), 'refused', 'audited once a second, not once a request');
    assert.equal(rate.take(BOB, 1), 'admitted', 'each user has their own budget');
    now += 999;
    assert.equal(rate.take(ALICE, 1), 'refused', 'still the same second');
    now += 1;
    assert.equal(rate.take(ALICE, 1), 'admitted', 'a new second');
  });

  test('a rule evaluation (intents/dispatch, policy/test) costs 10 units: 20 fit in a second, the 21st does not, and it spends the rest of the second', () => {
    assert.equal(requestUnits('intentsDispatch'), 10);
    assert.equal(requestUnits('policyTest'), 10);
    assert.equal(requestUnits('agentsList'), 1);
    const rate = new UserRequestRate(() => 7_000_000);
    for (let i = 0; i < LIMIT / 10; i++) assert.equal(rate.take(ALICE, requestUnits('intentsDispatch')), 'admitted');
    assert.equal(rate.take(ALICE, requestUnits('intentsDispatch')), 'refused-first');
    assert.equal(rate.take(ALICE, requestUnits('agentsList')), 'refused', 'a refused request leaves nothing for cheaper ones this second');
  });

  test('a window of a past second is dropped once many users were seen: the map stays bounded', () => {
    let now = 9_000_000;
    const rate = new UserRequestRate(() => now);
    for (let i = 0; i < 1024; i++) rate.take(`did:vaultys:${i.toString(16).padStart(40, '0')}`, 1);
    now += 1000;
    for (let i = 0; i < 3; i++) rate.take(`did:vaultys:${(5000 + i).toString(16).padStart(40, '0')}`, 1);
    // The earlier users start afresh: their old windows are gone, not kept at their spent count.
    assert.equal(rate.take(`did:vaultys:${'0'.repeat(40)}`, LIMIT), 'admitted');
  });
});

describe('a real broker flooded over /rpc', () => {
  const started = new Started();
  let broker: BrokerProcess;
  let owner: Member;
  let viewer: Member;
  let again: Member;
  let alice: Member;

  before(async () => {
    broker = await started.broker();
    owner = ownerOf(broker);
    viewer = await joinAs(broker, owner, 'viewer', 'vera');
    again = { ...viewer, client: await connectAs(broker, viewer.identity, viewer.name) };
    alice = await joinAs(broker, owner, 'operator', 'alice');
  });

  after(async () => {
    for (const m of [viewer, again, alice]) m?.client.close();
    await started.cleanup();
  });

  test('a viewer sending 5 × the budget at once from two sessions gets -32029 rate-limited past it, another user is served meanwhile, and the refusals are audited once per second', async () => {
    const burst = 5 * LIMIT + 1;
    const startSecond = Math.floor(Date.now() / 1000);
    const calls = Array.from({ length: burst }, (_, i) => call(i % 2 ? again : viewer, 'agentsList', {}));
    const served = await call(alice, 'brokerInfo', {});
    const settled = await Promise.allSettled(calls);
    const seconds = Math.floor(Date.now() / 1000) - startSecond + 1;

    assert.equal(served.did, broker.did, 'another user is answered during the flood');
    const refused = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as { code: number; message: string });
    assert.ok(refused.length > 0, `some of ${burst} requests over ${seconds} s must be refused`);
    assert.ok(burst - refused.length <= LIMIT * seconds, `at most ${LIMIT} admitted per second across both sessions: ${burst - refused.length} in ${seconds} s`);
    for (const error of refused) {
      assert.equal(error.code, RpcErrorCode.RateLimited);
      assert.equal(rpcErrorReason(error), 'rate-limited');
      assert.match(error.message, /too many requests this second/);
    }
    const lines = auditLines(broker.dataDir).filter((l) => l.event === 'rpc.refused' && l.reason === 'rate-limited' && l.did === viewer.did);
    assert.ok(lines.length >= 1 && lines.length <= seconds, `one audit line per second of refusals, not ${refused.length}: ${lines.length} in ${seconds} s`);
  });
});

const IN_FLIGHT = BUDGETS.rpcRequestsInFlight.limit;

describe('requests in flight, per user', () => {
  test(`${IN_FLIGHT} requests of one user run at once; the next is refused (audited once a second) until one is answered`, () => {
    let now = 3_000_000;
    const inFlight = new UserRequestsInFlight(() => now);
    const admitted = Array.from({ length: IN_FLIGHT }, () => inFlight.enter(ALICE));
    assert.ok(admitted.every((a) => a.verdict === 'admitted'));
    assert.equal(inFlight.enter(ALICE).verdict, 'refused-first', 'the bound + 1');
    assert.equal(inFlight.enter(ALICE).verdict, 'refused', 'audited once a second');
    assert.equal(inFlight.enter(BOB).verdict, 'admitted', 'each user has their own bound');
    const first = admitted[0]!;
    assert.ok(first.verdict === 'admitted');
    first.leave();
    first.leave();
    assert.equal(inFlight.running(ALICE), IN_FLIGHT - 1, 'leaving twice frees one place, not two');
    const next = inFlight.enter(ALICE);
    assert.equal(next.verdict, 'admitted', 'an answer frees a place');
    now += 1000;
    assert.equal(inFlight.enter(ALICE).verdict, 'refused-first', 'a new second is audited again');
    for (const a of [...admitted.slice(1), next]) if (a.verdict === 'admitted') a.leave();
    assert.equal(inFlight.running(ALICE), 0, 'nothing kept for a user with nothing running');
  });
});

describe('a real broker on a stalled PostgreSQL', () => {
  const started = new Started();
  let postgres: PostgresServer;
  let broker: BrokerProcess;
  let owner: Member;
  let viewer: Member;
  let alice: Member;

  before(async () => {
    postgres = await startPostgres();
    broker = await started.broker({ args: ['--database', await postgres.createDatabase()] });
    owner = ownerOf(broker);
    viewer = await joinAs(broker, owner, 'viewer', 'vera');
    alice = await joinAs(broker, owner, 'operator', 'alice');
  });

  after(async () => {
    for (const m of [viewer, alice]) m?.client.close();
    await started.cleanup();
    await postgres?.stop();
  });

  test(`a viewer's requests wait only up to BUDGETS.rpcRequestsInFlight (${IN_FLIGHT}): the next are refused at once, another user still gets in line, and all that waited are answered once it is back`, async () => {
    postgres.freeze();
    let viewerCalls: Promise<unknown>[] = [];
    let aliceCall: Promise<unknown> | undefined;
    try {
      const extra = 5;
      const settledAt: number[] = [];
      viewerCalls = Array.from({ length: IN_FLIGHT + extra }, (_, i) => call(viewer, 'agentsList', {}).finally(() => (settledAt[i] = Date.now())));
      aliceCall = call(alice, 'agentsList', {});
      // Without the bound they would wait on the database too: given 10 s to be refused, then the test fails (and thaws).
      const refused = await Promise.race([
        Promise.allSettled(viewerCalls.slice(IN_FLIGHT)),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`requests past the bound of ${IN_FLIGHT} were not refused at once`)), 10_000).unref()),
      ]);
      for (const outcome of refused) {
        assert.equal(outcome.status, 'rejected', 'past the bound: refused while the others wait');
        const error = (outcome as PromiseRejectedResult).reason as { code: number; message: string };
        assert.equal(error.code, RpcErrorCode.RateLimited);
        assert.equal(rpcErrorReason(error), 'rate-limited');
        assert.match(error.message, new RegExp(`${IN_FLIGHT} requests of yours are still being answered`));
      }
      assert.equal(settledAt.slice(0, IN_FLIGHT).filter((t) => t !== undefined).length, 0, `the first ${IN_FLIGHT} wait on the stalled database`);
    } finally {
      postgres.thaw();
    }
    const waited = await Promise.allSettled(viewerCalls.slice(0, IN_FLIGHT));
    assert.deepEqual(waited.map((w) => w.status), Array(IN_FLIGHT).fill('fulfilled'), 'every request that waited is answered');
    await aliceCall;
    await call(viewer, 'agentsList', {});
    const lines = auditLines(broker.dataDir).filter((l) => l.event === 'rpc.refused' && l.did === viewer.did && /still being answered/.test(String(l.detail)));
    assert.ok(lines.length >= 1 && lines.length <= 2, `one audit line per second of refusals, not one per refusal: ${lines.length}`);
  });
});
