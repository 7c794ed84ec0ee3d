/**
 * The budget of every input a hostile party controls, in one table (architecture.md, "Budgets for everything a
 * hostile party controls"). The adversaries follow the protocol: a compromised agent sends validly signed frames
 * with extreme numbers, a viewer makes valid but enormous requests, a stranger opens sockets and never speaks, a
 * web page reaches 127.0.0.1. Each row says who controls the input, what is bounded, the bound and its unit, and
 * where it is enforced. Code reads its limits from here, never from a literal of its own, and
 * test/core/budgets.test.ts checks that every row is exercised by a test at the bound and at the bound + 1.
 */
export type Adversary = 'broker' | 'data-dir' | 'agent' | 'pending-agent' | 'user' | 'stranger' | 'web-page' | 'workspace';
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
  supersededBrokerIds: {
    who: ['broker'],
    what: 'broker ids a peer remembers as replaced by a rotation (older ones stay refused by their lower certificate serial)',
    limit: 64,
    unit: 'count',
    enforcedAt: 'core/authority/broker-chain.ts (learnFromChain)',
  },
  brokerRevocations: {
    who: ['broker'],
    what: "root revocations a broker presents in one handshake (~0.3 KB each, under the Challenger message cap)",
    limit: 64,
    unit: 'count',
    enforcedAt: 'core/wire/authority.ts (BrokerAuthority), broker/identity/rotation.ts',
  },
  auditResumeScanEntries: {
    who: ['data-dir'],
    what: "audit.log entries after the last checkpoint a starting broker reads back to name them in its signed 'unverified tail' marker",
    limit: 10_000,
    unit: 'count',
    enforcedAt: 'broker/audit/resume-check.ts',
  },
} as const satisfies Record<string, Budget>;

export type BudgetName = keyof typeof BUDGETS;
