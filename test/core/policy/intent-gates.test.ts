import { MAX_COMMAND_LIMITS } from '../../../core/policy/command-limits';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { checkIntentGates, type GateInputs, type GateVerdict } from '../../../core/policy/intent-gates';
import type { IntentBody, RejectionReason } from '../../../core/wire/intent';
import { CAPABILITIES, type Capability, type CertifiedPolicy } from '../../../core/wire/policy';
import { RegistrationStatus } from '../../../core/wire/policy';

const ME = `did:vaultys:${'a'.repeat(40)}`;
const OTHER_AGENT = `did:vaultys:${'b'.repeat(40)}`;
const USER = `did:vaultys:${'c'.repeat(40)}`;
const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);
const STALENESS = 5 * 60_000;
const SKEW = 30_000;

const intent = (over: Partial<IntentBody> = {}): IntentBody => ({
  id: '0123456789abcdef0123456789abcdef',
  agent: ME,
  capability: 'read_file',
  params: { path: 'README.md' },
  user: USER,
  delegation: { payload: new Uint8Array(), signature: new Uint8Array() },
  revocationVersion: 0,
  issuedAt: NOW - 1000,
  expiresAt: NOW + 60_000,
  ...over,
});

const policy = (over: Partial<CertifiedPolicy> = {}): CertifiedPolicy => ({
  status: 'approved',
  policyId: 'default',
  policyVersion: 3,
  capabilities: ['read_file', 'list_files', 'run_command'],
  approvalRequired: ['run_command'],
  maxTokensPerDay: 10_000,
  maxRequestsPerHour: 60,
  policyExpiresAt: NOW + 86_400_000,
  approvalTimeoutMs: 600_000, allowedDomains: [], commandLimits: MAX_COMMAND_LIMITS,
  ...over,
});

const inputs = (over: Partial<GateInputs> = {}): GateInputs => ({
  now: NOW,
  agent: ME,
  policy: policy(),
  stalenessMs: STALENESS,
  clockSkewMs: SKEW,
  alreadySeen: () => false,
  tokensUsedToday: 0,
  requestsInLastHour: 0,
  delegation: () => ({ ok: true }),
  approvals: 'refuse',
  ...over,
});

const outcome = (v: GateVerdict): RejectionReason | 'ok' => (v.ok ? 'ok' : v.reason);

function assertRefused(v: GateVerdict, reason: RejectionReason): void {
  assert.equal(outcome(v), reason);
  assert.ok(!v.ok && v.message.length > 0, 'a refusal says why, for the audit log');
}

describe('checkIntentGates: each gate refuses with its own reason', () => {
  test('accepts an intent that passes every gate', () => {
    assert.deepEqual(checkIntentGates(intent(), inputs()), { ok: true });
  });

  test('wrong-agent: an intent addressed to another agent', () => {
    assertRefused(checkIntentGates(intent({ agent: OTHER_AGENT }), inputs()), 'wrong-agent');
  });

  test('from-future: issued further ahead than the clock-skew allowance', () => {
    assertRefused(checkIntentGates(intent({ issuedAt: NOW + 10 * 60_000, expiresAt: NOW + 20 * 60_000 }), inputs()), 'from-future');
  });

  test('stale: issued before the staleness window', () => {
    assertRefused(checkIntentGates(intent({ issuedAt: NOW - 60 * 60_000, expiresAt: NOW + 60_000 }), inputs()), 'stale');
  });

  test('expired: fresh, but past its expiry (beyond the skew allowance)', () => {
    assertRefused(checkIntentGates(intent({ issuedAt: NOW - 2 * 60_000, expiresAt: NOW - 60_000 }), inputs()), 'expired');
  });

  test('replay: an id already processed, and the gate asks about this intent id', () => {
    const asked: string[] = [];
    const alreadySeen = (id: string) => (asked.push(id), true);
    assertRefused(checkIntentGates(intent(), inputs({ alreadySeen })), 'replay');
    assert.deepEqual(asked, [intent().id]);
  });

  for (const status of ['pending', 'rejected', 'revoked'] as const) {
    test(`not-approved: a ${status} registration runs nothing`, () => {
      assertRefused(checkIntentGates(intent(), inputs({ policy: policy({ status }) })), 'not-approved');
    });
  }

  test('capability-not-granted: a tool missing from the certificate', () => {
    assertRefused(checkIntentGates(intent({ capability: 'write_file' }), inputs()), 'capability-not-granted');
  });

  test('capability-not-granted: needing approval does not grant a capability', () => {
    const p = policy({ capabilities: ['read_file'], approvalRequired: ['write_file'] });
    assertRefused(checkIntentGates(intent({ capability: 'write_file' }), inputs({ policy: p })), 'capability-not-granted');
  });

  test('policy-expired: the certified policy ended', () => {
    assertRefused(checkIntentGates(intent(), inputs({ policy: policy({ policyExpiresAt: NOW - 1 }) })), 'policy-expired');
  });

  test('token-budget-exhausted: the daily budget is used up', () => {
    assertRefused(checkIntentGates(intent(), inputs({ tokensUsedToday: 20_000 })), 'token-budget-exhausted');
  });

  test('rate-limited: the hourly request limit is reached', () => {
    assertRefused(checkIntentGates(intent(), inputs({ requestsInLastHour: 100 })), 'rate-limited');
  });

  test('approval-required: a granted tool that needs a reviewer is refused, never run', () => {
    assertRefused(checkIntentGates(intent({ capability: 'run_command' }), inputs()), 'approval-required');
  });
});

describe('checkIntentGates: an http_fetch reaches only the allowed domains of the certificate (the broker and the agent run this same gate)', () => {
  const fetch = (url: string) => intent({ capability: 'http_fetch', params: { method: 'GET', url, timeoutMs: 5000 } });
  const allowing = (allowedDomains: string[], over: Partial<GateInputs> = {}) =>
    inputs({ policy: policy({ capabilities: ['http_fetch', 'run_command'], approvalRequired: [], allowedDomains }), ...over });
  const cases: [string, string[], string, RejectionReason | 'ok'][] = [
    ['an exact host', ['api.example.com'], 'https://api.example.com/v1', 'ok'],
    ['a name under a wildcard', ['*.npmjs.org'], 'https://registry.npmjs.org/zod', 'ok'],
    ['upper case and a trailing dot name the same host', ['registry.npmjs.org'], 'HTTPS://Registry.NPMJS.org./zod', 'ok'],
    ['no allowed domain at all: no network', [], 'https://api.example.com/', 'destination-refused'],
    ['a host not named', ['api.example.com'], 'https://evil.example/', 'destination-refused'],
    ['the wildcard\'s own apex, which *. does not cover', ['*.npmjs.org'], 'https://npmjs.org/', 'destination-refused'],
    ['a name that merely ends like the pattern', ['*.npmjs.org'], 'https://evilnpmjs.org/', 'destination-refused'],
    ['an allowed name as userinfo in front of another host', ['api.example.com'], 'https://api.example.com@evil.example/', 'destination-refused'],
    ['a loopback IP literal', ['api.example.com'], 'http://127.0.0.1:8080/', 'destination-refused'],
    ['an IPv6 literal', ['api.example.com'], 'http://[::1]/', 'destination-refused'],
    ['a URL that does not parse', ['api.example.com'], 'https://', 'destination-refused'],
  ];
  for (const [what, domains, url, want] of cases) {
    test(`${want}: ${what} (${url} against [${domains.join(', ')}])`, () => {
      const verdict = checkIntentGates(fetch(url), allowing(domains));
      assert.equal(outcome(verdict), want);
      if (!verdict.ok) assert.match(verdict.message, domains.length ? /not in the agent's allowed domains/ : /allows no network/);
    });
  }

  test('the refusal names the host asked for and the domains allowed, for the audit line', () => {
    const verdict = checkIntentGates(fetch('https://evil.example/x'), allowing(['api.example.com', '*.npmjs.org']));
    assertRefused(verdict, 'destination-refused');
    assert.ok(!verdict.ok && verdict.message.includes('evil.example') && verdict.message.includes('api.example.com, *.npmjs.org'));
  });

  test('other tools are not held to allowedDomains: run_command with no domain passes (its sandbox has no network)', () => {
    assert.equal(outcome(checkIntentGates(intent({ capability: 'run_command', params: { url: 'https://evil.example/' } }), allowing([]))), 'ok');
  });

  test('params without a URL string are left to the params check (bad-params) that follows the gates', () => {
    assert.equal(outcome(checkIntentGates(intent({ capability: 'http_fetch', params: { method: 'GET' } }), allowing([]))), 'ok');
  });

  test('a reviewer is never asked about a fetch the certificate refuses: destination before approval, after delegation', () => {
    const needsReview = (over: Partial<GateInputs> = {}) =>
      inputs({ policy: policy({ capabilities: ['http_fetch'], approvalRequired: ['http_fetch'], allowedDomains: ['api.example.com'] }), ...over });
    assertRefused(checkIntentGates(fetch('https://evil.example/'), needsReview()), 'destination-refused');
    assertRefused(checkIntentGates(fetch('https://evil.example/'), needsReview({ approvals: 'pause' })), 'destination-refused');
    assertRefused(checkIntentGates(fetch('https://api.example.com/'), needsReview()), 'approval-required');
    const undelegated = needsReview({ delegation: () => ({ ok: false, reason: 'delegation-missing', message: 'no grant' }) });
    assertRefused(checkIntentGates(fetch('https://evil.example/'), undelegated), 'delegation-missing');
  });
});

describe('checkIntentGates: boundaries', () => {
  test('staleness: issued exactly staleness + skew ago is accepted, one millisecond more is stale', () => {
    const edge = NOW - STALENESS - SKEW;
    assert.equal(outcome(checkIntentGates(intent({ issuedAt: edge }), inputs())), 'ok');
    assert.equal(outcome(checkIntentGates(intent({ issuedAt: edge - 1 }), inputs())), 'stale');
  });

  test('future: issued exactly skew ahead is accepted, one millisecond more is from-future', () => {
    const edge = NOW + SKEW;
    assert.equal(outcome(checkIntentGates(intent({ issuedAt: edge, expiresAt: edge + 60_000 }), inputs())), 'ok');
    assert.equal(outcome(checkIntentGates(intent({ issuedAt: edge + 1, expiresAt: edge + 60_000 }), inputs())), 'from-future');
  });

  test('expiry: expired exactly skew ago is accepted, one millisecond more is expired', () => {
    const edge = NOW - SKEW;
    assert.equal(outcome(checkIntentGates(intent({ issuedAt: NOW - 60_000, expiresAt: edge }), inputs())), 'ok');
    assert.equal(outcome(checkIntentGates(intent({ issuedAt: NOW - 60_000, expiresAt: edge - 1 }), inputs())), 'expired');
  });

  test('policy expiry: a policy expiring at now is already expired, one millisecond later is valid', () => {
    assert.equal(outcome(checkIntentGates(intent(), inputs({ policy: policy({ policyExpiresAt: NOW + 1 }) }))), 'ok');
    assert.equal(outcome(checkIntentGates(intent(), inputs({ policy: policy({ policyExpiresAt: NOW }) }))), 'policy-expired');
  });

  test('rate limit: N-1 executed requests in the hour leave room for one more, N do not', () => {
    const p = policy({ maxRequestsPerHour: 10 });
    assert.equal(outcome(checkIntentGates(intent(), inputs({ policy: p, requestsInLastHour: 9 }))), 'ok');
    assert.equal(outcome(checkIntentGates(intent(), inputs({ policy: p, requestsInLastHour: 10 }))), 'rate-limited');
  });

  test('token budget: max-1 tokens used still runs, max tokens used does not', () => {
    const p = policy({ maxTokensPerDay: 500 });
    assert.equal(outcome(checkIntentGates(intent(), inputs({ policy: p, tokensUsedToday: 499 }))), 'ok');
    assert.equal(outcome(checkIntentGates(intent(), inputs({ policy: p, tokensUsedToday: 500 }))), 'token-budget-exhausted');
  });

  test('zero limits grant nothing: no requests per hour, no tokens per day', () => {
    assert.equal(outcome(checkIntentGates(intent(), inputs({ policy: policy({ maxRequestsPerHour: 0 }) }))), 'rate-limited');
    assert.equal(outcome(checkIntentGates(intent(), inputs({ policy: policy({ maxTokensPerDay: 0 }) }))), 'token-budget-exhausted');
  });
});

/**
 * The decision order of architecture.md ("Intents"), written here
 * independently of core/policy/intent-gates.ts as "what passing this gate
 * means". The design's single "fresh" step is three gates (not from the
 * future, not stale, not expired); registration status precedes the
 * capability check (a certificate that is not approved grants nothing).
 * Delegation is not a gate yet: it will join between rate and approval.
 */
interface Case {
  intent: IntentBody;
  g: GateInputs;
  seen: boolean;
}
/** "Named by allowedDomains", stated for this test alone: an exact name, or a name strictly under a *. pattern's domain. */
const namedBy = (host: string, patterns: readonly string[]) =>
  patterns.some((p) => (p.startsWith('*.') ? host.endsWith(p.slice(1)) && host !== p.slice(2) : host === p));

const DOCUMENTED_ORDER: readonly (readonly [RejectionReason, (c: Case) => boolean])[] = [
  ['wrong-agent', ({ intent, g }) => intent.agent === g.agent],
  ['from-future', ({ intent, g }) => intent.issuedAt - g.now <= g.clockSkewMs],
  ['stale', ({ intent, g }) => g.now - intent.issuedAt <= g.stalenessMs + g.clockSkewMs],
  ['expired', ({ intent, g }) => g.now <= intent.expiresAt + g.clockSkewMs],
  ['replay', ({ seen }) => !seen],
  ['not-approved', ({ g }) => g.policy.status === 'approved'],
  ['capability-not-granted', ({ intent, g }) => g.policy.capabilities.includes(intent.capability)],
  ['policy-expired', ({ g }) => g.now < g.policy.policyExpiresAt],
  ['token-budget-exhausted', ({ g }) => g.tokensUsedToday < g.policy.maxTokensPerDay],
  ['rate-limited', ({ g }) => g.requestsInLastHour < g.policy.maxRequestsPerHour],
  // The generated URLs name example.com, sub.example.com, evil.example or an IP; the policies allow none, one exact name or *.example.com.
  ['destination-refused', ({ intent, g }) => intent.capability !== 'http_fetch' || namedBy(new URL(String(intent.params.url)).hostname, g.policy.allowedDomains)],
  ['approval-required', ({ intent, g }) => !g.policy.approvalRequired.includes(intent.capability)],
];

const ORDER_INDEX = new Map(DOCUMENTED_ORDER.map(([reason], i) => [reason, i]));

const expected = (c: Case): RejectionReason | 'ok' => DOCUMENTED_ORDER.find(([, passes]) => !passes(c))?.[0] ?? 'ok';

/** Offsets cluster on each edge (±2 ms) so that several gates often fail at once. */
const nearEdges = (...edges: number[]) =>
  fc.oneof(
    fc.constantFrom(...edges.flatMap((e) => [e - 2, e - 1, e, e + 1, e + 2])),
    fc.integer({ min: Math.min(...edges) - 60_000, max: Math.max(...edges) + 60_000 }),
  );

/**
 * Mostly `usual` (a value that passes its gate), sometimes anything from
 * `other`: with eleven gates in a row, unbiased inputs would almost never
 * reach the last ones.
 */
const mostly = <T,>(usual: T, other: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ weight: 4, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: other });

const capabilitySet = fc.subarray([...CAPABILITIES] as Capability[]);

const arbitraryCase: fc.Arbitrary<Case> = fc
  .record({
    agent: mostly(ME, fc.constant(OTHER_AGENT)),
    stalenessMs: fc.constantFrom(0, 1000, STALENESS),
    clockSkewMs: fc.constantFrom(0, 5, SKEW),
    issuedAtEdge: fc.constantFrom('stale-edge', 'future-edge', 'inside', 'anywhere'),
    issuedOffset: fc.integer({ min: -2, max: 2 }),
    issuedAnywhere: fc.integer({ min: -STALENESS - SKEW - 60_000, max: SKEW + 60_000 }),
    expiresOffset: mostly(60_000, nearEdges(-SKEW, -5, 0)),
    seen: mostly(false, fc.constant(true)),
    status: mostly<RegistrationStatus>('approved', fc.constantFrom(...RegistrationStatus.options)),
    // http_fetch is the only capability that reaches destination-refused: drawn uniformly it stopped
    // there ~28 times in 5000 runs, too close to the coverage floor of 25 (CI failed once at 21).
    capability: fc.oneof(fc.constant<Capability>('http_fetch'), fc.constantFrom(...CAPABILITIES)),
    capabilities: mostly<Capability[]>([...CAPABILITIES], capabilitySet),
    approvalRequired: capabilitySet,
    policyExpiresOffset: mostly(86_400_000, fc.integer({ min: -2, max: 2 })),
    maxTokensPerDay: fc.integer({ min: 0, max: 4 }),
    tokensUsedToday: mostly(0, fc.integer({ min: 0, max: 5 })),
    maxRequestsPerHour: fc.integer({ min: 0, max: 4 }),
    requestsInLastHour: mostly(0, fc.integer({ min: 0, max: 5 })),
    url: mostly('https://example.com/', fc.constantFrom('https://evil.example/', 'https://sub.example.com/', 'http://127.0.0.1/')),
    allowedDomains: mostly<string[]>(['example.com'], fc.constantFrom<string[]>([], ['other.example'], ['*.example.com'])),
  })
  .map((r): Case => {
    const issuedAt = {
      'stale-edge': NOW - r.stalenessMs - r.clockSkewMs + r.issuedOffset,
      'future-edge': NOW + r.clockSkewMs + r.issuedOffset,
      inside: NOW + r.issuedOffset,
      anywhere: NOW + r.issuedAnywhere,
    }[r.issuedAtEdge];
    const seen = r.seen;
    return {
      seen,
      intent: intent({ agent: r.agent, capability: r.capability, params: { url: r.url }, issuedAt, expiresAt: NOW + r.expiresOffset }),
      g: inputs({
        stalenessMs: r.stalenessMs,
        clockSkewMs: r.clockSkewMs,
        alreadySeen: () => seen,
        tokensUsedToday: r.tokensUsedToday,
        requestsInLastHour: r.requestsInLastHour,
        delegation: () => ({ ok: true }),
        approvals: 'refuse',
        policy: policy({
          status: r.status,
          capabilities: r.capabilities,
          approvalRequired: r.approvalRequired,
          policyExpiresAt: NOW + r.policyExpiresOffset,
          approvalTimeoutMs: 600_000, allowedDomains: r.allowedDomains, commandLimits: MAX_COMMAND_LIMITS,
          maxTokensPerDay: r.maxTokensPerDay,
          maxRequestsPerHour: r.maxRequestsPerHour,
        }),
      }),
    };
  });

describe('checkIntentGates: order', () => {
  test('an intent failing several gates is refused by the earliest gate of the documented order', () => {
    const i = intent({ agent: OTHER_AGENT, issuedAt: NOW - 60 * 60_000, expiresAt: NOW - 50 * 60_000, capability: 'write_file' });
    const g = inputs({ alreadySeen: () => true, policy: policy({ status: 'revoked', policyExpiresAt: 0 }), tokensUsedToday: 1e9, requestsInLastHour: 1e9 });
    assert.equal(outcome(checkIntentGates(i, g)), 'wrong-agent');
    assert.equal(outcome(checkIntentGates({ ...i, agent: ME }, g)), 'stale');
    assert.equal(outcome(checkIntentGates({ ...i, agent: ME, issuedAt: NOW }, g)), 'expired');
    assert.equal(outcome(checkIntentGates({ ...i, agent: ME, issuedAt: NOW, expiresAt: NOW }, g)), 'replay');
  });

  test('property: the reported reason is always the first failing gate of the documented order, and the seen-id check runs once, at its place', () => {
    const hits = new Map<string, number>();
    fc.assert(
      fc.property(arbitraryCase, (c) => {
        const want = expected(c);
        hits.set(want, (hits.get(want) ?? 0) + 1);
        let seenCalls = 0;
        const got = checkIntentGates(c.intent, {
          ...c.g,
          alreadySeen: (id) => {
            seenCalls++;
            assert.equal(id, c.intent.id);
            return c.seen;
          },
        });
        assert.equal(outcome(got), want);
        if (!got.ok) assert.ok(got.message.length > 0);
        // The agent may pass a claiming alreadySeen (`id => !seen.record(id, issuedAt)`): that is only
        // sound if it is asked exactly once, and only for intents addressed to it and fresh.
        const reachesReplay = want === 'ok' || ORDER_INDEX.get(want)! >= ORDER_INDEX.get('replay')!;
        assert.equal(seenCalls, reachesReplay ? 1 : 0);
      }),
      { numRuns: 5000 },
    );
    // The generator must actually reach every gate (and success), or the property proves little.
    if (process.env.GATE_ORDER_STATS) console.log(Object.fromEntries(hits));
    for (const reason of [...DOCUMENTED_ORDER.map(([r]) => r), 'ok']) {
      assert.ok((hits.get(reason) ?? 0) >= 25, `only ${hits.get(reason) ?? 0} cases stopped at ${reason}`);
    }
  });
});
