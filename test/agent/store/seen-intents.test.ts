import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, test } from 'node:test';
import { checkIntentGates, DEFAULT_CLOCK_SKEW_MS, DEFAULT_STALENESS_MS } from '../../../core/policy/intent-gates';
import type { IntentBody } from '../../../core/wire/intent';
import type { CertifiedPolicy } from '../../../core/wire/policy';
import { openAgentDatabase } from '../../../agent/store/agent-database';
import { SeenIntentStore } from '../../../agent/store/seen-intents';
import { tempDatabasePath } from './support/temp-database';

const CHILD = join(import.meta.dirname, 'support', 'seen-intent-child.ts');
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const WINDOW = DEFAULT_STALENESS_MS + DEFAULT_CLOCK_SKEW_MS;
const freshId = (): string => randomBytes(16).toString('hex');

function openStore(path: string) {
  const db = openAgentDatabase(path);
  return { store: new SeenIntentStore(db), close: () => db.close() };
}

interface ChildResult {
  recorded: boolean | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Starts the child agent process; `go()` releases it when it waits on the
 * barrier; `done` settles when it has ended. Bounded: killed after 60 s.
 */
function startChild(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let recorded: boolean | undefined;
  let resolveReady: () => void;
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'ready') resolveReady();
    else recorded = (JSON.parse(line) as { recorded: boolean }).recorded;
  });
  const done = new Promise<ChildResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ recorded, code, signal, stderr });
    });
  });
  return { ready, done, go: () => child.stdin.end('go\n') };
}

describe('SeenIntentStore', () => {
  test('records a new id once and reports a duplicate by returning false', () => {
    const { store, close } = openStore(tempDatabasePath());
    try {
      const id = freshId();
      assert.equal(store.has(id), false);
      assert.equal(store.record(id, NOW), true);
      assert.equal(store.has(id), true);
      assert.equal(store.record(id, NOW), false, 'the second delivery must not run');
      assert.equal(store.record(id, NOW - 1000), false, 'a different issuedAt does not make it a new intent');
      assert.equal(store.has(freshId()), false);
    } finally {
      close();
    }
  });

  test('rejects an intent replayed after restart (close and reopen the database)', () => {
    const path = tempDatabasePath();
    const id = freshId();
    const first = openStore(path);
    assert.equal(first.store.record(id, NOW), true);
    first.close();

    const second = openStore(path);
    try {
      assert.equal(second.store.has(id), true);
      assert.equal(second.store.record(id, NOW), false);
    } finally {
      second.close();
    }
  });

  for (const ending of ['exit', 'kill'] as const) {
    test(`rejects an intent replayed after a real agent process recorded it and ${ending === 'kill' ? 'was SIGKILLed' : 'exited'}`, async () => {
      const path = tempDatabasePath();
      const id = freshId();
      const child = startChild([path, id, String(NOW), ending]);
      const result = await child.done;
      assert.equal(result.recorded, true, `child stderr: ${result.stderr}`);
      if (ending === 'kill') assert.equal(result.signal, 'SIGKILL');
      else assert.equal(result.code, 0);

      const { store, close } = openStore(path);
      try {
        assert.equal(store.has(id), true, 'the id the dead process recorded is still there');
        assert.equal(store.record(id, NOW), false);
      } finally {
        close();
      }
    });
  }

  test('lets exactly one of several racing agent processes claim the same id', async () => {
    const path = tempDatabasePath();
    openAgentDatabase(path).close(); // schema first, so the racers contend on the claim, not on the migration
    const id = freshId();
    const children = Array.from({ length: 4 }, () => startChild([path, id, String(NOW), 'exit', 'wait-for-go']));
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    const results = await Promise.all(children.map((c) => c.done));
    for (const r of results) assert.equal(r.code, 0, `child stderr: ${r.stderr}`);
    assert.deepEqual(
      results.map((r) => r.recorded).sort(),
      [false, false, false, true],
      'one claim wins, every other delivery is told it is a replay',
    );
  });

  test('prune forgets only ids issued before the window and keeps the one exactly at its edge', () => {
    const path = tempDatabasePath();
    const { store, close } = openStore(path);
    const cutoff = NOW - WINDOW;
    const ids = { beforeEdge: freshId(), atEdge: freshId(), inside: freshId(), fromFuture: freshId() };
    store.record(ids.beforeEdge, cutoff - 1);
    store.record(ids.atEdge, cutoff);
    store.record(ids.inside, NOW - 1000);
    store.record(ids.fromFuture, NOW + DEFAULT_CLOCK_SKEW_MS);
    assert.equal(store.prune(cutoff), 1);
    close();

    const reopened = openStore(path);
    try {
      assert.equal(reopened.store.has(ids.beforeEdge), false);
      assert.equal(reopened.store.has(ids.atEdge), true);
      assert.equal(reopened.store.has(ids.inside), true);
      assert.equal(reopened.store.has(ids.fromFuture), true);
    } finally {
      reopened.close();
    }
  });

  test('pruning at now - staleness - skew never lets a replay through: the staleness gate refuses every pruned id', () => {
    const { store, close } = openStore(tempDatabasePath());
    try {
      const agent = `did:vaultys:${'1'.repeat(40)}`;
      const policy: CertifiedPolicy = {
        status: 'approved',
        policyId: 'p',
        policyVersion: 1,
        capabilities: ['read_file'],
        approvalRequired: [],
        maxTokensPerDay: 1000,
        maxRequestsPerHour: 100,
        policyExpiresAt: NOW + 86_400_000,
        approvalTimeoutMs: 600_000, allowedDomains: [], commandLimits: MAX_COMMAND_LIMITS,
      };
      // Issued from the far past to the furthest future the gate accepts, every 7.5 s and at both edges.
      const offsets = new Set<number>([-WINDOW - 1, -WINDOW, -WINDOW + 1, DEFAULT_CLOCK_SKEW_MS]);
      for (let off = -WINDOW - 60_000; off <= DEFAULT_CLOCK_SKEW_MS; off += 7_500) offsets.add(off);
      const intents = [...offsets].map(
        (off): IntentBody => ({
          id: freshId(),
          agent,
          capability: 'read_file',
          params: {},
          user: `did:vaultys:${'2'.repeat(40)}`,
          delegation: { payload: new Uint8Array(), signature: new Uint8Array() },
        revocationVersion: 0,
          issuedAt: NOW + off,
          expiresAt: NOW + off + 60 * 60_000,
        }),
      );
      for (const intent of intents) assert.equal(store.record(intent.id, intent.issuedAt), true);
      store.prune(NOW - DEFAULT_STALENESS_MS - DEFAULT_CLOCK_SKEW_MS);
      for (const intent of intents) {
        const verdict = checkIntentGates(intent, {
          now: NOW,
          agent,
          policy,
          stalenessMs: DEFAULT_STALENESS_MS,
          clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
          alreadySeen: (id) => store.has(id),
          tokensUsedToday: 0,
          requestsInLastHour: 0,
          delegation: () => ({ ok: true }),
          approvals: 'refuse',
        });
        const reason = verdict.ok ? 'ok' : verdict.reason;
        if (store.has(intent.id)) assert.equal(reason, 'replay', `kept id issued at now${intent.issuedAt - NOW}`);
        else assert.equal(reason, 'stale', `pruned id issued at now${intent.issuedAt - NOW} must be refused as stale`);
      }
    } finally {
      close();
    }
  });

  test('claiming inside the gate spends a fresh id once, even when a later gate refuses it, and never a stale one', () => {
    const { store, close } = openStore(tempDatabasePath());
    try {
      const agent = `did:vaultys:${'1'.repeat(40)}`;
      const base: IntentBody = {
        id: freshId(),
        agent,
        capability: 'read_file',
        params: {},
        user: `did:vaultys:${'2'.repeat(40)}`,
        delegation: { payload: new Uint8Array(), signature: new Uint8Array() },
        revocationVersion: 0,
        issuedAt: NOW - 1000,
        expiresAt: NOW + 60_000,
      };
      const gate = (intent: IntentBody, requestsInLastHour: number) => {
        const verdict = checkIntentGates(intent, {
          now: NOW,
          agent,
          policy: {
            status: 'approved',
            policyId: 'p',
            policyVersion: 1,
            capabilities: ['read_file'],
            approvalRequired: [],
            maxTokensPerDay: 1000,
            maxRequestsPerHour: 10,
            policyExpiresAt: NOW + 86_400_000,
            approvalTimeoutMs: 600_000, allowedDomains: [], commandLimits: MAX_COMMAND_LIMITS,
          },
          stalenessMs: DEFAULT_STALENESS_MS,
          clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
          alreadySeen: (id) => !store.record(id, intent.issuedAt),
          delegation: () => ({ ok: true }),
          approvals: 'refuse',
          tokensUsedToday: 0,
          requestsInLastHour,
        });
        return verdict.ok ? 'ok' : verdict.reason;
      };
      assert.equal(gate(base, 10), 'rate-limited');
      assert.equal(gate(base, 0), 'replay', 'the rate-limited intent cannot be replayed once the rate allows it');
      const other = { ...base, id: freshId() };
      assert.equal(gate(other, 0), 'ok');
      assert.equal(gate(other, 0), 'replay');
      const stale = { ...base, id: freshId(), issuedAt: NOW - WINDOW - 1 };
      assert.equal(gate(stale, 0), 'stale');
      assert.equal(store.has(stale.id), false, 'a refused stale intent takes no room in the store');
    } finally {
      close();
    }
  });

  test('refuses a time that is not epoch milliseconds rather than storing a NULL', () => {
    const { store, close } = openStore(tempDatabasePath());
    try {
      assert.throws(() => store.record(freshId(), Number.NaN), RangeError);
      assert.throws(() => store.record(freshId(), 1.5), RangeError);
      assert.throws(() => store.prune(-1), RangeError);
    } finally {
      close();
    }
  });
});
