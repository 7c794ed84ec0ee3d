// The decisions a node keeps because the node holding their agent did not take them (BUDGETS.undeliveredDecisions):
// kept up to the bound, the oldest given up (audited) past it; sent again until taken, the agent held nowhere, or
// the request expired. The hand-over is scripted here; test/cluster/outages.test.ts runs it on real nodes and NATS.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { UndeliveredDecisions, type DecisionHandOver } from '../../../broker/approvals/undelivered-decisions';
import { BUDGETS } from '../../../core/budgets';
import type { ApprovalDecisionBundle } from '../../../core/wire/approval';
import { waitFor } from '../../support/processes';

const AGENT = `did:vaultys:${'a'.repeat(40)}`;
const bundle = (n: number): ApprovalDecisionBundle => ({
  decision: { payload: new Uint8Array([n & 0xff, n >> 8]), signature: new Uint8Array(64) },
  reviewerId: new Uint8Array(8),
  countersignature: { payload: new Uint8Array(1), signature: new Uint8Array(64) },
});

function recorder(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
  return { log: pino({ level: 'info' }, sink), lines };
}

test(`BUDGETS.undeliveredDecisions: ${BUDGETS.undeliveredDecisions.limit} are kept; one more gives up the oldest, audited`, () => {
  const { log, lines } = recorder();
  const kept = new UndeliveredDecisions(async () => 'failed', () => 1_000, log, 'node-a');
  try {
    const limit = BUDGETS.undeliveredDecisions.limit;
    for (let i = 0; i < limit; i++) kept.keep(`r${i}`, 'bob', AGENT, bundle(i), 10_000);
    assert.equal(kept.size, limit);
    assert.equal(lines.filter((l) => l.outcome === 'given-up').length, 0, 'at the bound nothing is given up');
    kept.keep(`r${limit}`, 'bob', AGENT, bundle(limit), 10_000);
    assert.equal(kept.size, limit);
    assert.deepEqual(lines.filter((l) => l.outcome === 'given-up').map((l) => l.requestId), ['r0'], 'the bound + 1: the oldest given up');
  } finally {
    kept.close();
  }
});

test('sent again until taken; a holder that says no node holds the agent ends it; an expired request is dropped unsent', async () => {
  const { log, lines } = recorder();
  let now = 1_000;
  const answers = new Map<string, DecisionHandOver[]>([['1', ['failed', 'taken']], ['2', ['absent']], ['3', ['failed', 'failed', 'failed']]]);
  const tries: string[] = [];
  const kept = new UndeliveredDecisions(
    async (_agent, b) => {
      const which = String(b.decision.payload[0]);
      tries.push(which);
      return answers.get(which)!.shift() ?? 'failed';
    },
    () => now,
    log,
    'node-a',
  );
  try {
    kept.keep('taken', 'bob', AGENT, bundle(1), 60_000);
    kept.keep('absent', 'bob', AGENT, bundle(2), 60_000);
    kept.keep('expires', 'bob', AGENT, bundle(3), 3_000);
    await waitFor('the first to be taken at its second try', () => lines.some((l) => l.event === 'approval.redelivered' && l.requestId === 'taken'), 10_000);
    assert.equal(kept.size, 1, 'taken and absent are no longer kept');
    now = 3_000;
    await waitFor('the expired one to be dropped', () => kept.size === 0, 10_000);
    assert.deepEqual(lines.filter((l) => l.event === 'approval.redelivered').map((l) => l.requestId), ['taken'], 'only what was taken is audited as taken');
    const triedExpired = tries.filter((t) => t === '3').length;
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(tries.filter((t) => t === '3').length, triedExpired, 'nothing sent once the request expired');
  } finally {
    kept.close();
  }
});
