// Audit streams driven in-process against a real audit.log (ChainedDestination in a temp dir) and real receivers on
// 127.0.0.1: the memory bound and the catch-up from the file behind it, and endpoints that never answer, answer
// forever or talk back. The end-to-end paths (a real broker, agents, restarts) are test/e2e/audit-streams.test.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AUDIT_LOG_FILE } from '../../../../broker/audit/chain';
import { startAuditStreams } from '../../../../broker/audit/streams/audit-streams';
import type { AuditStream } from '../../../../broker/audit/streams/audit-stream';
import { STREAM_CURSOR_DIR } from '../../../../broker/audit/streams/stream-cursor';
import { syslogFrame } from '../../../../broker/audit/streams/syslog-frame';
import { retryDelay } from '../../../../broker/ops/endpoint-post';
import type { AuditStreamTarget } from '../../../../broker/ops/ops-options';
import { BUDGETS } from '../../../../core/budgets';
import { HttpsCollector, SilentListener, SyslogCollector, verifiedChain } from '../../../support/audit-receivers';
import { waitFor } from '../../../support/processes';
import { makeTestPki } from '../../../support/test-pki';
import { brokerIdentity, fileLines, parsedLines, TempDirs, TestAuditLog } from '../support';

const dirs = new TempDirs();
const pki = makeTestPki(dirs.make());
const ca = readFileSync(pki.ca);
const TOKEN = 'collector-token-never-logged';
/** A delivery time shorter than BUDGETS.endpointDeliveryMs, passed through the streams' deliveryMs parameter. */
const DELIVERY_MS = 800;

interface Running {
  dir: string;
  log: TestAuditLog;
  stream: AuditStream;
  stop(): Promise<void>;
}
const running: Running[] = [];
const receivers: { stop(): Promise<void> }[] = [];

after(async () => {
  for (const r of running.splice(0)) await r.stop();
  for (const r of receivers.splice(0)) await r.stop();
  dirs.removeAll();
});

/** Started, and stopped by the file's after() whatever a test did. */
async function started<R extends { start(): Promise<void>; stop(): Promise<void> }>(receiver: R): Promise<R> {
  await receiver.start();
  receivers.push(receiver);
  return receiver;
}

/** A fresh audit.log (no checkpoint unless asked: the tests count lines) streamed to `target`. */
function streamed(target: AuditStreamTarget, deliveryMs = DELIVERY_MS, checkpointEveryLines = 1_000_000, dir = dirs.make()): Running {
  const log = new TestAuditLog(join(dir, AUDIT_LOG_FILE), brokerIdentity(), { everyLines: checkpointEveryLines, everyMs: 3_600_000 });
  const part = startAuditStreams({ destination: log.destination, log: log.log, dataDir: dir }, [target], { deliveryMs, flushMs: 500 });
  const r: Running = {
    dir,
    log,
    stream: part.streams[0]!,
    async stop() {
      await part.stop();
      log.close();
    },
  };
  running.push(r);
  return r;
}

const events = (r: Running, event: string) => parsedLines(r.log.destination.path).filter((l) => l.event === event);

/** Every line of audit.log reached the receiver, in order, the chain verifiable from what it got. */
async function allDelivered(r: Running, received: () => string[], timeoutMs = 30_000): Promise<{ duplicates: number }> {
  await waitFor('every audit line at the receiver', () => verifiedChain(received()).lines.length === fileLines(r.log.destination.path).length, timeoutMs);
  const { lines, duplicates } = verifiedChain(received());
  assert.deepEqual(lines, fileLines(r.log.destination.path), 'byte for byte what audit.log holds');
  return { duplicates };
}

describe('audit streams in-process', () => {
  test('a collector down holds at most BUDGETS.auditStreamMemoryLines lines in memory, then catches up from audit.log: nothing lost', async () => {
    const collector = await started(new HttpsCollector(pki));
    const r = streamed({ kind: 'https', url: new URL(`${collector.url}/ingest/path-secret`), ca, token: TOKEN });
    r.log.events(3);
    await allDelivered(r, () => collector.lines);
    await waitFor('the stream to hold live lines', () => r.stream.feed.idle);

    await collector.stop();
    r.log.events(1, 3);
    await waitFor('the failure to be noticed', () => r.stream.failing);
    // The event, and the line saying the destination fails: both held, both waiting for it.
    assert.equal(r.stream.feed.held, 2);
    const limit = BUDGETS.auditStreamMemoryLines.limit;
    r.log.events(limit - 2, 4);
    assert.equal(r.stream.feed.held, limit, 'at the bound every waiting line is in memory');
    assert.equal(r.stream.feed.catchingUp, false);
    r.log.events(1, limit + 2);
    assert.equal(r.stream.feed.held, 0, 'one line past the bound, memory is let go');
    assert.equal(r.stream.feed.catchingUp, true);
    r.log.events(50, limit + 3);
    assert.equal(r.stream.feed.held, 0, 'and stays let go while the destination is down');

    await collector.start(collector.port);
    await waitFor('the recovery to be audited', () => events(r, 'audit.stream-recovered').length === 1, 60_000);
    const { duplicates } = await allDelivered(r, () => collector.lines);
    assert.ok(duplicates <= 1_100, `only re-sent batches come twice (${duplicates})`);
    await waitFor('the stream to be back on live lines', () => !r.stream.feed.catchingUp);

    const failing = events(r, 'audit.stream-failing');
    assert.equal(failing.length, 1, 'one line for the whole outage, however many attempts');
    assert.equal(failing[0]!.destination, 'https');
    assert.equal(failing[0]!.endpoint, `https://127.0.0.1:${collector.port}`);
    assert.match(String(failing[0]!.reason), /ECONNREFUSED/);
    const recovered = events(r, 'audit.stream-recovered')[0]!;
    assert.ok(Number(recovered.caughtUp) >= limit + 51, `caught up every line written while down (${recovered.caughtUp})`);
    assert.ok(Number(recovered.attempts) >= 1);
    const text = readFileSync(r.log.destination.path, 'utf8');
    assert.ok(!text.includes(TOKEN) && !text.includes('path-secret'), 'neither the token nor the URL path is in the audit log');
    assert.ok(collector.authorizations.every((a) => a === `Bearer ${TOKEN}`));
    assert.ok(collector.contentTypes.every((t) => t === 'application/x-ndjson'));
    await r.stop();
    await collector.stop();
  });

  test('batches to an HTTPS collector share one kept-alive connection; one the collector drops as the next batch goes out is replaced at once, and nothing fails', async () => {
    const collector = await started(new HttpsCollector(pki));
    const r = streamed({ kind: 'https', url: new URL(collector.url), ca });
    for (let batch = 0; batch < 4; batch++) {
      r.log.events(3, batch * 3);
      await allDelivered(r, () => collector.lines);
    }
    assert.equal(collector.requests, 4, 'one POST per batch');
    assert.equal(collector.accepted, 1, 'all of them on one connection');

    // The race a keep-alive client meets: the collector closes the connection as the next request goes out on it.
    collector.behaviour = { kind: 'one-request-per-connection' };
    for (let batch = 4; batch < 7; batch++) {
      r.log.events(3, batch * 3);
      await allDelivered(r, () => collector.lines);
    }
    assert.equal(collector.accepted, 4, 'each dropped connection replaced by a new one');
    assert.deepEqual(events(r, 'audit.stream-failing'), [], 'a dropped idle connection is no failure of the destination');
    await r.stop();
    await collector.stop();
  });

  test('a collector that never answers fails each delivery within the delivery time (BUDGETS.endpointDeliveryMs), holding lines, until it answers', async () => {
    assert.ok(DELIVERY_MS < BUDGETS.endpointDeliveryMs.limit);
    const collector = await started(new HttpsCollector(pki));
    collector.behaviour = { kind: 'silent' };
    const r = streamed({ kind: 'https', url: new URL(collector.url), ca });
    r.log.events(5);
    await waitFor('the failure to be audited', () => events(r, 'audit.stream-failing').length === 1, 10_000);
    assert.match(String(events(r, 'audit.stream-failing')[0]!.reason), new RegExp(`no answer within ${DELIVERY_MS} ms`));
    // Lines keep being written while the destination hangs: each append only enqueues.
    const writing = Date.now();
    r.log.events(200, 5);
    assert.ok(Date.now() - writing < DELIVERY_MS, 'writing does not wait for the hanging collector');
    collector.behaviour = { kind: 'store' };
    await allDelivered(r, () => collector.lines);
    await r.stop();
    await collector.stop();
  });

  test('stopping waits for what is queued a bounded time, then cancels a delivery the collector never answers', async () => {
    const collector = await started(new HttpsCollector(pki));
    collector.behaviour = { kind: 'silent' };
    const r = streamed({ kind: 'https', url: new URL(collector.url), ca }, BUDGETS.endpointDeliveryMs.limit);
    r.log.events(3);
    await waitFor('a delivery in flight', () => collector.requests === 1 && collector.connections === 1);
    const stopping = Date.now();
    await r.stop();
    await waitFor('the hanging delivery to be cancelled', () => collector.connections === 0, 2_000);
    assert.ok(Date.now() - stopping < 2_000, `stopped in ${Date.now() - stopping} ms, not after the delivery time`);
  });

  test('an answer of BUDGETS.endpointResponseBytes that never ends is waited for (then fails); one byte more ends the read at once, delivered by its status', async () => {
    const limit = BUDGETS.endpointResponseBytes.limit;
    const atBound = await started(new HttpsCollector(pki));
    atBound.behaviour = { kind: 'endless-answer', bytes: limit };
    const past = await started(new HttpsCollector(pki));
    past.behaviour = { kind: 'endless-answer', bytes: limit + 1 };
    const waiting = streamed({ kind: 'https', url: new URL(atBound.url), ca });
    const cut = streamed({ kind: 'https', url: new URL(past.url), ca });
    waiting.log.events(3);
    cut.log.events(3);
    await waitFor('the bound answer to time out', () => events(waiting, 'audit.stream-failing').length === 1, 10_000);
    assert.match(String(events(waiting, 'audit.stream-failing')[0]!.reason), /no answer within/);
    await waitFor('the longer answer to count as delivered', () => cut.stream.feed.idle, 10_000);
    assert.equal(events(cut, 'audit.stream-failing').length, 0);
    for (const r of [waiting, cut]) await r.stop();
    await atBound.stop();
    await past.stop();
  });

  test('syslog over TLS: RFC 5424 with the exact line as MSG; a receiver that talks back past BUDGETS.endpointResponseBytes is dropped', async () => {
    const limit = BUDGETS.endpointResponseBytes.limit;
    const quiet = await started(new SyslogCollector(pki));
    quiet.sendOnConnect = limit;
    const chatty = await started(new SyslogCollector(pki));
    chatty.sendOnConnect = limit + 1;
    const ok = streamed({ kind: 'syslog', url: new URL(`tls://127.0.0.1:${quiet.port}`), ca });
    const dropped = streamed({ kind: 'syslog', url: new URL(`tls://127.0.0.1:${chatty.port}`), ca });
    ok.log.events(4);
    ok.log.log.warn({ event: 'audit.stream-failing', destination: 'https', endpoint: 'x', reason: 'y' }, 'a warning');
    dropped.log.events(4);
    await allDelivered(ok, () => quiet.lines);
    assert.equal(events(ok, 'audit.stream-failing').length, 1, 'only the warning written above');
    const [first] = quiet.messages;
    assert.equal(first!.pri, 13 * 8 + 6, 'facility log audit, severity informational');
    assert.equal(quiet.messages.at(-1)!.pri, 13 * 8 + 4, 'a warn line is a warning');
    assert.equal(first!.appName, 'vaultysclaw-broker');
    assert.equal(first!.procId, String(process.pid));
    assert.equal(first!.msgId, 'intent.submitted');
    assert.equal(first!.timestamp, new Date(JSON.parse(first!.msg).time as number).toISOString());
    await waitFor('the talking receiver to be dropped', () => events(dropped, 'audit.stream-failing').length === 1, 10_000);
    assert.match(String(events(dropped, 'audit.stream-failing')[0]!.reason), new RegExp(`the receiver sent more than ${limit} bytes`));
    assert.equal(events(dropped, 'audit.stream-failing')[0]!.endpoint, `tls://127.0.0.1:${chatty.port}`);
    for (const r of [ok, dropped]) await r.stop();
    await quiet.stop();
    await chatty.stop();
  });

  test('syslog: a certificate from another CA is refused, a TLS peer that never answers times out, a plain tcp:// relay on loopback works', async () => {
    const receiver = await started(new SyslogCollector(pki));
    const untrusted = streamed({ kind: 'syslog', url: new URL(`tls://127.0.0.1:${receiver.port}`), ca: readFileSync(pki.otherCa) });
    untrusted.log.events(2);
    await waitFor('the untrusted certificate to fail', () => events(untrusted, 'audit.stream-failing').length === 1, 10_000);
    assert.match(String(events(untrusted, 'audit.stream-failing')[0]!.reason), /certificate/i);
    assert.equal(receiver.messages.length, 0, 'nothing sent to a server that did not prove who it is');

    const silent = await started(new SilentListener());
    const hanging = streamed({ kind: 'syslog', url: new URL(`tls://127.0.0.1:${silent.port}`), ca });
    hanging.log.events(2);
    await waitFor('the hanging handshake to fail', () => events(hanging, 'audit.stream-failing').length === 1, 10_000);
    assert.match(String(events(hanging, 'audit.stream-failing')[0]!.reason), new RegExp(`not written within ${DELIVERY_MS} ms`));

    const relay = await started(new SyslogCollector());
    const plain = streamed({ kind: 'syslog', url: new URL(`tcp://127.0.0.1:${relay.port}`) });
    plain.log.events(3);
    await allDelivered(plain, () => relay.lines);
    for (const r of [untrusted, hanging, plain]) await r.stop();
    for (const s of [receiver, silent, relay]) await s.stop();
  });

  test('a checkpoint written from inside the write of the line it follows reaches the destination in file order', async () => {
    const collector = await started(new HttpsCollector(pki));
    const r = streamed({ kind: 'https', url: new URL(collector.url), ca }, DELIVERY_MS, 3);
    r.log.events(2);
    await allDelivered(r, () => collector.lines);
    await waitFor('live lines', () => r.stream.feed.idle);
    // Every third line now makes the checkpoint listener append one more line before the others hear of the first.
    r.log.events(30, 2);
    assert.ok(events(r, 'audit.checkpoint').length >= 10);
    await allDelivered(r, () => collector.lines);
    await r.stop();
  });

  test('a restarted stream resumes after the last line acknowledged (cursor 0600); a cursor that matches no line of the log sends it all again', async () => {
    const collector = await started(new HttpsCollector(pki));
    const target: AuditStreamTarget = { kind: 'https', url: new URL(collector.url), ca };
    const first = streamed(target);
    first.log.events(5);
    await allDelivered(first, () => collector.lines);
    await first.stop();
    const [cursorFile] = readdirSync(join(first.dir, STREAM_CURSOR_DIR));
    const cursorPath = join(first.dir, STREAM_CURSOR_DIR, cursorFile!);
    assert.equal(statSync(cursorPath).mode & 0o777, 0o600);
    const acked = (JSON.parse(readFileSync(cursorPath, 'utf8')) as { seq: number }).seq;
    assert.equal(acked, 4, 'the last line delivered (the shutdown checkpoint came after the stream stopped)');

    const received = collector.lines.length;
    const second = streamed(target, DELIVERY_MS, 1_000_000, first.dir);
    second.log.events(3, 5);
    await allDelivered(second, () => collector.lines);
    assert.equal(JSON.parse(collector.lines[received]!).seq, acked + 1, 'resumed right after the cursor: the shutdown checkpoint first');
    assert.equal(verifiedChain(collector.lines).duplicates, 0);
    await second.stop();

    writeFileSync(cursorPath, JSON.stringify({ seq: 3, hash: 'f'.repeat(64), end: 100, bytes: 10 }));
    const before = collector.lines.length;
    const third = streamed(target, DELIVERY_MS, 1_000_000, first.dir);
    third.log.events(1, 8);
    await allDelivered(third, () => collector.lines);
    assert.equal(JSON.parse(collector.lines[before]!).seq, 0, 'a cursor of another log: everything again, from the first line');
    await third.stop();
  });

  test('retries back off up to BUDGETS.endpointBackoffMaxMs and never past it, however long the destination fails', () => {
    const limit = BUDGETS.endpointBackoffMaxMs.limit;
    // 500 ms doubling: the 8th failure in a row is the first whose ceiling reaches the bound, the 9th is past it.
    const waits = (failures: number) => Array.from({ length: 400 }, () => retryDelay(failures));
    for (const failures of [8, 9, 1_000]) {
      const sample = waits(failures);
      assert.ok(sample.every((ms) => ms >= 250 && ms <= limit), `after ${failures} failures: ${Math.min(...sample)}..${Math.max(...sample)}`);
      assert.ok(Math.max(...sample) > limit * 0.9, 'jittered up to the bound');
    }
    assert.ok(Math.max(...waits(1)) <= 500, 'the first retry comes soon');
  });

  test('a syslog frame counts the octets of the message, UTF-8 included, and sanitises header fields', () => {
    const line = JSON.stringify({ seq: 1, prev: '0'.repeat(64), level: 50, time: 0, event: 'a b\u00e9'.repeat(20), msg: 'h\u00e9llo' });
    const frame = syslogFrame(line, JSON.parse(line) as Record<string, unknown>, 42);
    const space = frame.indexOf(0x20);
    const length = Number(frame.subarray(0, space).toString());
    assert.equal(length, frame.length - space - 1);
    const message = frame.subarray(space + 1).toString('utf8');
    assert.ok(message.startsWith(`<${13 * 8 + 3}>1 1970-01-01T00:00:00.000Z `));
    const msgId = message.split(' ')[5]!;
    assert.equal(msgId.length, 32);
    assert.match(msgId, /^[\x21-\x7e]+$/);
    assert.ok(message.endsWith(` - ${line}`));
  });
});
