// Issue 20: a cluster node's checkpoints name its node and cluster inside what they sign. Every node signs as the
// one broker id, so a name outside the signature could be edited to pass one node's log off as another's.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AUDIT_LOG_FILE } from '../../../broker/audit/chain';
import { verifyAuditLog } from '../../../broker/audit/verify-audit-log';
import { closeBrokerLogger, createBrokerLogger } from '../../../broker/log';
import { TempDirs, TestAuditLog, brokerIdentity, fileLines, writeLines } from './support';

const dirs = new TempDirs();
after(() => dirs.removeAll());
const broker = brokerIdentity();

/** A node's log as createBrokerLogger leaves it: a start checkpoint, `events` events, a shutdown checkpoint. */
function nodeLog(node: { node: string; cluster: string } | undefined, dir = dirs.make(), events = 3): string {
  const log = createBrokerLogger(dir, broker, 'silent', { everyLines: 100, everyMs: 60_000 }, node);
  for (let i = 0; i < events; i++) log.info({ event: 'intent.submitted', n: i }, 'event');
  closeBrokerLogger(log);
  return join(dir, AUDIT_LOG_FILE);
}

describe('checkpoints that name their cluster node', () => {
  test('the node and cluster are signed: renamed or stripped in the last checkpoint, it no longer verifies', () => {
    const path = nodeLog({ node: 'node-1', cluster: 'prod' });
    const report = verifyAuditLog(path, { brokerDid: broker.did });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.deepEqual(report.node, { name: 'node-1', cluster: 'prod', line: 1 });
    const lines = fileLines(path);
    const last = lines.length - 1;
    for (const edit of [(l: string) => l.replace('"node":"node-1"', '"node":"node-2"'), (l: string) => l.replace(',"node":"node-1","cluster":"prod"', '')]) {
      const edited = [...lines];
      edited[last] = edit(lines[last]!);
      assert.notEqual(edited[last], lines[last]);
      writeLines(path, edited);
      const failure = verifyAuditLog(path, { brokerDid: broker.did }).failure;
      assert.deepEqual([failure?.line, failure?.reason], [last + 1, 'bad checkpoint signature']);
    }
  });

  test('a stopped node continues its log under its own name; a log whose checkpoints name one node, then another, is refused at the first naming the second', () => {
    const dir = dirs.make();
    const path = nodeLog({ node: 'node-1', cluster: 'prod' }, dir);
    assert.throws(() => nodeLog({ node: 'node-2', cluster: 'prod' }, dir), /is the audit log of node node-1 of cluster prod/);
    // `broker identity import` on a stopped node writes without --node-name: the log's own name is kept.
    nodeLog(undefined, dir);
    assert.equal(verifyAuditLog(path, { brokerDid: broker.did }).ok, true);
    // Written past createBrokerLogger's refusal (a writer of its own): the verifier must catch it by itself.
    const before = fileLines(path).length;
    const log = new TestAuditLog(path, broker, { everyLines: 100, everyMs: 60_000 }, 'info', { node: 'node-2', cluster: 'prod' });
    log.checkpoints.checkpoint('start');
    log.close();
    const failure = verifyAuditLog(path, { brokerDid: broker.did }).failure;
    assert.deepEqual([failure?.line, failure?.reason], [before + 1, 'node changed']);
    assert.match(failure!.detail, /names node node-2 of cluster prod, but the log's checkpoints from line 1 name node node-1/);
  });
});
