/**
 * A compromised but approved agent keeps sending validly signed frames while the broker's PostgreSQL stalls (a lock
 * held on the intents table: every frame about an intent waits for it). The connection handles its frames one after
 * another, so each one it sends waited in the broker's memory, up to 2 MiB each, for as long as the stall lasted.
 * BUDGETS.agentFramesQueued, at the bound (every frame read) and past it (the broker stops reading: what the agent
 * sends then stays in its own socket's buffer), on a real broker process on a real PostgreSQL; nothing is lost, and
 * every frame is answered once the stall ends.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { BUDGETS } from '../../core/budgets';
import { IdType, SecretIdentity } from '../../core/identity';
import { startPostgres, type PostgresServer } from '../support/postgres';
import { waitFor, type BrokerProcess } from '../support/processes';
import { exitIfHeldOpen, Started } from '../support/started';
import { bounded } from './support/fleet';
import { RogueAgent, type HubSocket } from './support/rogue-agent';
import { auditLines, call, ownerOf } from './support/team';

exitIfHeldOpen();
const started = new Started();
const LIMIT = BUDGETS.agentFramesQueued.limit;

let postgres: PostgresServer | undefined;
let broker: BrokerProcess;
let databaseUrl: string;
let rogue: RogueAgent;
const sockets: HubSocket[] = [];

before(async () => {
  postgres = await startPostgres();
  databaseUrl = await postgres.createDatabase();
  broker = await started.broker({ args: ['--database', databaseUrl] });
  rogue = new RogueAgent(SecretIdentity.generate(IdType.Machine), broker.url, broker.did, { name: 'queue-filler', requested: ['list_files'], agentVersion: '0.5.0' });
  const first = await bounded('rogue handshake', rogue.authenticate());
  first.hub.close();
  await call(ownerOf(broker), 'registrationsApprove', { did: rogue.did, policy: { capabilities: ['list_files'] } });
});

after(async () => {
  for (const hub of sockets) hub.close();
  await started.cleanup();
  await postgres?.stop();
});

/** An approved connection, once the broker has finished taking it (its reads of the intents table done). */
async function connect(): Promise<HubSocket> {
  const mark = auditLines(broker.dataDir).length;
  const { hub, status } = await bounded('approved handshake', rogue.authenticate());
  assert.equal(status, 'approved');
  sockets.push(hub);
  await waitFor('the handshake audited', () => auditLines(broker.dataDir).slice(mark).some((l) => l.event === 'auth.succeeded' && l.did === rogue.did) || undefined);
  return hub;
}

/** Holds every statement on the intents table (reads included) until released: PostgreSQL stalled under the broker. */
async function lockIntents(): Promise<{ release(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE intents IN ACCESS EXCLUSIVE MODE');
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await client.query('ROLLBACK');
    await client.end();
  };
  after(release);
  return { release };
}

const MiB = 1024 * 1024;
const OUTPUT_BYTES = 512 * 1024;
/**
 * What loopback's kernel buffers can hold of what the broker does not read: the receiving and the sending socket's
 * TCP buffers at their largest (autotuned; 32 + 4 MiB on this machine, once measured holding 19 MiB).
 */
const lastField = (file: string) => Number(readFileSync(file, 'utf8').trim().split(/\s+/).pop());
const KERNEL_BYTES = lastField('/proc/sys/net/ipv4/tcp_rmem') + lastField('/proc/sys/net/ipv4/tcp_wmem');
/** Past the bound: enough that at least 16 MiB cannot hide in the kernel's buffers, so what stays with the agent shows. */
const PAST = Math.max(64, Math.ceil((KERNEL_BYTES + 16 * MiB) / OUTPUT_BYTES));

/** A validly signed result for an intent this agent never received: the broker reads the intents table to refuse it. */
const unknownResult = (content: string) => ({ type: 'result', envelope: rogue.result({ intentId: randomBytes(16).toString('hex'), outcome: 'succeeded', reason: null, message: 'done', output: { content } }) });

const answered = (hub: HubSocket) => hub.frames.filter((f) => f.type === 'error' && f.code === 'unknown-intent').length;

/** Sends `count` results within the hub's frame rate: the bound is on frames waiting, not on their pace. */
async function sendResults(hub: HubSocket, count: number): Promise<void> {
  const content = 'x'.repeat(OUTPUT_BYTES);
  const perBurst = Math.floor(BUDGETS.hubFramesPerSecond.limit / 4);
  for (let i = 0; i < count; i += perBurst) {
    for (let j = i; j < Math.min(count, i + perBurst); j++) hub.send(unknownResult(content));
    if (i + perBurst < count) await sleep(500);
  }
}

/** The bytes the agent's socket still holds once the broker has read what it would (the kernel's buffers filled). */
async function unread(hub: HubSocket): Promise<number> {
  let last = -1;
  for (let i = 0; i < 20 && hub.socket.bufferedAmount !== last; i++) {
    last = hub.socket.bufferedAmount;
    await sleep(250);
  }
  return hub.socket.bufferedAmount;
}

describe("an agent's frames waiting for a stalled PostgreSQL are bounded per connection", () => {
  test(`at the bound: ${LIMIT} frames waiting are all read from the socket, and each answered once the stall ends`, async () => {
    const hub = await connect();
    const lock = await lockIntents();
    await sendResults(hub, LIMIT);
    assert.equal(await unread(hub), 0, 'the broker read every frame');
    assert.equal(answered(hub), 0, 'the lock stalls the broker: nothing is answered while it is held');
    await lock.release();
    await waitFor(`${LIMIT} frames answered`, () => answered(hub) === LIMIT || undefined, 30_000);
    assert.equal(hub.closed, undefined);
    hub.close();
  });

  test(`past the bound: the broker stops reading at ${LIMIT} frames waiting, ${PAST} more stay in the agent's socket, and all are answered in turn once the stall ends`, async () => {
    const hub = await connect();
    const lock = await lockIntents();
    await sendResults(hub, LIMIT + PAST);
    const left = await unread(hub);
    // The kernel's buffers on loopback hold up to KERNEL_BYTES of what the broker does not read (and its WebSocket a
    // frame or two it read before pausing); the rest stays the agent's. A broker that reads on takes nearly all of it.
    const floor = PAST * OUTPUT_BYTES - KERNEL_BYTES - 2 * OUTPUT_BYTES;
    assert.ok(left >= floor, `only ${left} bytes of ${PAST} frames of ${OUTPUT_BYTES} were left unread (at least ${floor} must be): the broker took them`);
    assert.equal(answered(hub), 0);
    assert.equal(hub.closed, undefined, 'held back, not cut off: an honest burst reaches the bound too');
    await lock.release();
    await waitFor(`${LIMIT + PAST} frames answered`, () => answered(hub) === LIMIT + PAST || undefined, 60_000);
    assert.equal(await unread(hub), 0);
    assert.equal(hub.closed, undefined);
    hub.close();
  });
});
