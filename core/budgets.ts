/**
 * The budget of every input a hostile party controls, in one table (architecture.md, "Budgets for everything a
 * hostile party controls"). The adversaries follow the protocol: a compromised agent sends validly signed frames
 * with extreme numbers, a viewer makes valid but enormous requests, a stranger opens sockets and never speaks, a
 * web page reaches 127.0.0.1. Each row says who controls the input, what is bounded, the bound and its unit, and
 * where it is enforced. Code reads its limits from here, never from a literal of its own, and
 * test/core/budgets.test.ts checks that every row is exercised by a test at the bound and at the bound + 1.
 */
export type Adversary = 'agent' | 'pending-agent' | 'user' | 'stranger' | 'web-page' | 'workspace';
export type BudgetUnit = 'bytes' | 'count' | 'per-second' | 'ms' | 'tokens';

export interface Budget {
  readonly who: readonly Adversary[];
  readonly what: string;
  readonly limit: number;
  readonly unit: BudgetUnit;
  /** Where the bound is enforced: the edge that refuses the input. */
  readonly enforcedAt: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const BUDGETS = {
  hubFrameBytes: {
    who: ['agent', 'pending-agent', 'stranger'],
    what: 'one broker ⇄ agent WebSocket frame, either direction (room for a 1 MiB write plus its envelope)',
    limit: 2 * MiB,
    unit: 'bytes',
    enforcedAt: 'broker/hub/hub-server.ts (ws maxPayload), agent/hub-client.ts, core/wire/frame-codec.ts',
  },
  hubFramesPerSecond: {
    who: ['agent', 'pending-agent', 'stranger'],
    what: 'frames an agent sends unasked in one second (results the broker asked for are owed, not counted)',
    limit: 200,
    unit: 'per-second',
    enforcedAt: 'broker/hub/hub-server.ts',
  },
  peerBufferedBytes: {
    who: ['agent', 'user', 'stranger'],
    what: 'bytes the broker buffers for a peer that does not read before it cuts the peer off',
    limit: 4 * MiB,
    unit: 'bytes',
    enforcedAt: 'broker/hub/hub-server.ts',
  },
  agentHandshakeMs: {
    who: ['stranger', 'pending-agent'],
    what: 'time an agent socket may take to complete its handshake',
    limit: 10_000,
    unit: 'ms',
    enforcedAt: 'broker/hub/hub-server.ts',
  },
  challengeMessageBytes: {
    who: ['stranger', 'agent', 'user'],
    what: 'one Challenger handshake message',
    limit: 64 * KiB,
    unit: 'bytes',
    enforcedAt: 'core/wire/hub-messages.ts, core/identity/challenger/messages.ts',
  },
  rpcHandshakeMs: {
    who: ['stranger'],
    what: 'time a /rpc socket may take to complete its user handshake',
    limit: 10_000,
    unit: 'ms',
    enforcedAt: 'broker/hub/hub-server.ts',
  },
  preAuthFrames: {
    who: ['stranger', 'web-page'],
    what: 'frames one socket (agent path or /rpc) may send before it has authenticated: a handshake needs two',
    limit: 8,
    unit: 'count',
    enforcedAt: 'broker/hub/hub-server.ts',
  },
  hubUpgradeMs: {
    who: ['stranger', 'web-page'],
    what: 'time a TCP connection to the hub may take to send its WebSocket upgrade (a socket that never speaks is reaped)',
    limit: 10_000,
    unit: 'ms',
    enforcedAt: 'broker/hub/hub-server.ts (own timer; http headersTimeout, requestTimeout)',
  },
  unauthenticatedSocketsPerAddress: {
    who: ['stranger', 'web-page'],
    what: 'sockets from one remote address that have not authenticated yet (TCP accepted, upgrading or in handshake)',
    limit: 64,
    unit: 'count',
    enforcedAt: 'broker/hub/connection-caps.ts',
  },
  unauthenticatedSockets: {
    who: ['stranger', 'web-page'],
    what: 'sockets from all addresses that have not authenticated yet: the file descriptors strangers can hold',
    limit: 1024,
    unit: 'count',
    enforcedAt: 'broker/hub/connection-caps.ts',
  },
  authenticatedSocketsPerAddress: {
    who: ['agent', 'pending-agent', 'user'],
    what: 'authenticated sockets from one remote address (sized for a 10 000-agent fleet simulated on 127.0.0.1)',
    limit: 16_384,
    unit: 'count',
    enforcedAt: 'broker/hub/connection-caps.ts',
  },
  refusalAuditLines: {
    who: ['stranger', 'pending-agent', 'web-page'],
    what: 'audit lines written in full per interval for refusals of peers that have not authenticated; the rest are counted',
    limit: 20,
    unit: 'count',
    enforcedAt: 'broker/hub/refusal-audit.ts',
  },
  refusalSummaryMs: {
    who: ['stranger', 'pending-agent', 'web-page'],
    what: 'interval of the one auth.refused-summary line that counts, per reason, the refusals not written in full',
    limit: 10_000,
    unit: 'ms',
    enforcedAt: 'broker/hub/refusal-audit.ts',
  },
  pendingRegistrations: {
    who: ['stranger'],
    what: 'pending (never approved) agent registrations the broker keeps, from all addresses',
    limit: 1000,
    unit: 'count',
    enforcedAt: 'broker/agents/registration-service.ts',
  },
  pendingRegistrationsPerAddress: {
    who: ['stranger'],
    what: 'pending agent registrations made from one remote address since the broker started (the address is a rate key, never a trust signal)',
    limit: 100,
    unit: 'count',
    enforcedAt: 'broker/agents/registration-service.ts',
  },
  pendingRegistrationMs: {
    who: ['stranger'],
    what: 'lifetime of a pending registration from its first handshake: then it is removed (audited) and the agent may register again',
    limit: 24 * 60 * 60_000,
    unit: 'ms',
    enforcedAt: 'broker/agents/registration-service.ts',
  },
} as const satisfies Record<string, Budget>;

export type BudgetName = keyof typeof BUDGETS;
