/**
 * The budget of every input a hostile party controls, in one table (architecture.md, "Budgets for everything a
 * hostile party controls"). The adversaries follow the protocol: a compromised agent sends validly signed frames
 * with extreme numbers, a viewer makes valid but enormous requests, a stranger opens sockets and never speaks, a
 * web page reaches 127.0.0.1. Each row says who controls the input, what is bounded, the bound and its unit, and
 * where it is enforced. Code reads its limits from here, never from a literal of its own, and
 * test/core/budgets.test.ts checks that every row is exercised by a test at the bound and at the bound + 1.
 */
export type Adversary = 'broker' | 'data-dir' | 'agent' | 'pending-agent' | 'user' | 'stranger' | 'web-page' | 'workspace';
export type BudgetUnit = 'bytes' | 'count' | 'per-second' | 'ms' | 'seconds' | 'tokens';

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
const GiB = 1024 * MiB;

export const BUDGETS = {
  hubFrameBytes: {
    who: ['agent', 'pending-agent', 'stranger'],
    what: 'one broker ⇄ agent WebSocket frame, either direction (room for a 1 MiB write plus its envelope)',
    limit: 2 * MiB,
    unit: 'bytes',
    enforcedAt: 'broker/hub/hub-server.ts (ws maxPayload), agent/hub-client.ts',
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
    enforcedAt: 'core/wire/hub-messages.ts',
  },
  userNameBytes: {
    who: ['user', 'stranger'],
    what: 'the name a user gives at enrolment (UTF-8), shown to reviewers with a fingerprint',
    limit: 256,
    unit: 'bytes',
    enforcedAt: 'core/rpc/user-auth.ts (UserHello, usersRename)',
  },
  tokenReportDays: {
    who: ['agent'],
    what: 'UTC days a signed token report may name, counting back from today (a task runs at most an hour, so across one midnight at most)',
    limit: 2,
    unit: 'count',
    enforcedAt: 'broker/intents/token-report-gate.ts',
  },
  tokensPerIntentDay: {
    who: ['agent', 'user'],
    what: "tokens one intent may count on one day: a report above its certificate's maxTokensPerDay counts as that budget, and no budget an admin sets exceeds this",
    limit: 1e12,
    unit: 'tokens',
    enforcedAt: 'broker/intents/token-report-gate.ts, core/rpc/views.ts (PolicyInput)',
  },
  envelopePayloadBytes: {
    who: ['agent', 'user'],
    what: 'the signed payload of one envelope (an intent with its params, a result, progress, an approval request): the broker refuses, before signing, an intent that would not fit',
    limit: 1536 * KiB,
    unit: 'bytes',
    enforcedAt: 'core/wire/common.ts (Envelope), broker/intents/intent-router.ts (before signing)',
  },
  writeFileBytes: {
    who: ['user'],
    what: 'the UTF-8 bytes of one write_file content (bytes, not characters: 1 MiB of "é" is 2 MiB on the wire)',
    limit: MiB,
    unit: 'bytes',
    enforcedAt: 'core/wire/tools.ts (WriteFileParams), checked by the broker before signing and by the agent',
  },
  intentResends: {
    who: ['agent', 'user'],
    what: "times an intent in flight is sent again to its agent's new connection: one that keeps ending its agent's connection ends lost-agent instead of looping for ever",
    limit: 3,
    unit: 'count',
    enforcedAt: 'broker/intents/intent-router.ts (onAgentBack; the count is kept across restarts)',
  },
  progressWatchesPerSession: {
    who: ['user'],
    what: "intents a user session receives progress of besides its user's own: the ones it read last (intentsGet)",
    limit: 64,
    unit: 'count',
    enforcedAt: 'broker/rpc/progress-audience.ts',
  },
  pendingAgentResults: {
    who: ['pending-agent'],
    what: 'results a registration not approved may send on one connection: answers it kept for a registration the broker lost, each refused unknown-intent so the agent drops it; one more ends the connection',
    limit: 16,
    unit: 'count',
    enforcedAt: 'broker/hub/agent-connection.ts',
  },
  listPageItems: {
    who: ['user'],
    what: 'items one page of a list method may ask for (its `limit`); more is invalid params, the rest is paged with a cursor',
    limit: 200,
    unit: 'count',
    enforcedAt: 'core/rpc/pages.ts (PageParams), every list method of core/rpc/methods.ts',
  },
  listResponseBytes: {
    who: ['user', 'agent'],
    what: 'the JSON of one list page: a page ends early (with a cursor) rather than outgrow it; items are summaries, never outputs or signed envelopes',
    limit: 1 * MiB,
    unit: 'bytes',
    enforcedAt: 'broker/store/keyset-page.ts',
  },
  summaryTextChars: {
    who: ['user', 'agent'],
    what: 'characters of each string param shown in a list item (a write_file content is cut, flagged paramsTruncated; the whole is one get away)',
    limit: 256,
    unit: 'count',
    enforcedAt: 'broker/store/summary-params.ts',
  },
  intentDetailBytes: {
    who: ['agent', 'user'],
    what: "the JSON of one intent's detail (intents/get): parts that would outgrow it (output, then the signed result, then the signed intent) are left out and named in `omitted`",
    limit: 3 * MiB,
    unit: 'bytes',
    enforcedAt: 'broker/store/intent-store.ts (detail)',
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
    enforcedAt: 'broker/agents/pending-registrations.ts',
  },
  pendingRegistrationsPerAddress: {
    who: ['stranger'],
    what: 'pending agent registrations made from one remote address since the broker started (the address is a rate key, never a trust signal)',
    limit: 100,
    unit: 'count',
    enforcedAt: 'broker/agents/pending-registrations.ts',
  },
  pendingRegistrationMs: {
    who: ['stranger'],
    what: 'lifetime of a pending registration from its first handshake: then it is removed (audited) and the agent may register again',
    limit: 24 * 60 * 60_000,
    unit: 'ms',
    enforcedAt: 'broker/agents/pending-registrations.ts',
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
  allowedDomains: {
    who: ['user'],
    what: "host patterns a certified policy may name in allowedDomains (exact hosts and *.example.com): what a command's proxy and http_fetch may reach",
    limit: 64,
    unit: 'count',
    enforcedAt: 'core/wire/policy.ts (CertifiedPolicy, PolicyInput)',
  },
  commandCpuSeconds: {
    who: ['workspace', 'user'],
    what: "CPU seconds one command and every process it starts may use (RLIMIT_CPU); the largest a policy may grant and the agent host's default ceiling (--max-cpu-seconds narrows it)",
    limit: 600,
    unit: 'seconds',
    enforcedAt: 'core/policy/command-limits.ts, agent/confinement/resource-limits.ts',
  },
  commandMemoryBytes: {
    who: ['workspace', 'user'],
    what: 'memory one command may use: all its processes together in a memory cgroup, or each process (RLIMIT_DATA) where the agent can make none; the largest a policy may grant and the host default ceiling (--max-memory narrows it)',
    limit: 4 * GiB,
    unit: 'bytes',
    enforcedAt: 'core/policy/command-limits.ts, agent/confinement/resource-limits.ts',
  },
  commandProcesses: {
    who: ['workspace', 'user'],
    what: 'processes one command may have at once, itself included (a fork bomb ends its own command); the largest a policy may grant and the host default ceiling (--max-processes)',
    limit: 256,
    unit: 'count',
    enforcedAt: 'core/policy/command-limits.ts, agent/confinement/resource-limits.ts',
  },
  commandFileBytes: {
    who: ['workspace', 'user'],
    what: 'the size of one file a command writes (RLIMIT_FSIZE); the largest a policy may grant and the host default ceiling (--max-file-size)',
    limit: 1 * GiB,
    unit: 'bytes',
    enforcedAt: 'core/policy/command-limits.ts, agent/confinement/resource-limits.ts',
  },
  commandWorkspaceWriteBytes: {
    who: ['workspace', 'user'],
    what: "bytes one intent's commands may add to the workspace's disk; the largest a policy may grant and the host default ceiling (--max-workspace-writes)",
    limit: 2 * GiB,
    unit: 'bytes',
    enforcedAt: 'core/policy/command-limits.ts, agent/confinement/resource-limits.ts',
  },
  egressConnectionsPerCommand: {
    who: ['workspace'],
    what: "connections one command may hold open at once through the agent's egress proxy",
    limit: 64,
    unit: 'count',
    enforcedAt: 'agent/egress/egress-proxy.ts',
  },
  httpFetchRequestBytes: {
    who: ['user', 'workspace'],
    what: 'the UTF-8 body of one http_fetch request',
    limit: 256 * KiB,
    unit: 'bytes',
    enforcedAt: 'core/wire/tools.ts (HttpFetchParams)',
  },
  httpFetchResponseBytes: {
    who: ['workspace'],
    what: 'response body bytes http_fetch keeps (the rest is cut and marked truncated): room for base64 in the signed result',
    limit: 64 * KiB,
    unit: 'bytes',
    enforcedAt: 'agent/tools/http-fetch.ts',
  },
  httpFetchMs: {
    who: ['user', 'workspace'],
    what: 'time one http_fetch may take, from connecting to the last byte',
    limit: 30_000,
    unit: 'ms',
    enforcedAt: 'core/wire/tools.ts (HttpFetchParams), agent/tools/http-fetch.ts',
  },
  egressRefusalReports: {
    who: ['workspace'],
    what: "egress refusals one command gets reported one by one (the agent's log and the command's progress); the rest are counted in one line when it ends",
    limit: 32,
    unit: 'count',
    enforcedAt: 'agent/egress/egress-launch-part.ts',
  },
  policyRules: {
    who: ['user'],
    what: 'allow / ask / deny rules one certified policy carries, all capabilities together (first match wins, so each call reads at most this many)',
    limit: 128,
    unit: 'count',
    enforcedAt: 'core/wire/policy-rules.ts (PolicyRules)',
  },
  policyRulesBytes: {
    who: ['user'],
    what: "a policy's rules as JSON, examples included: they travel in every agent certificate (a Challenger message is at most challengeMessageBytes)",
    limit: 16 * KiB,
    unit: 'bytes',
    enforcedAt: 'core/wire/policy-rules.ts (PolicyRules)',
  },
  rulePatternBytes: {
    who: ['user'],
    what: "one pattern of a rule: an argv element, a path glob, a URL path prefix (matching is O(pattern × input), never a backtracking regex)",
    limit: 256,
    unit: 'bytes',
    enforcedAt: 'core/wire/policy-rules.ts (CommandMatch, PathMatch, HttpMatch)',
  },
  ruleArgvItems: {
    who: ['user'],
    what: "elements of one run_command rule's argv pattern",
    limit: 32,
    unit: 'count',
    enforcedAt: 'core/wire/policy-rules.ts (CommandMatch)',
  },
  ruleExamples: {
    who: ['user'],
    what: 'examples one rule carries on each side (matches, doesNotMatch), checked when the policy is set',
    limit: 8,
    unit: 'count',
    enforcedAt: 'core/wire/policy-rules.ts',
  },
  resultProgressBytes: {
    who: ['agent'],
    what: "progress text (UTF-8) the extension keeps of one intent for its result view (a command's output, a task's steps), streamed live; past it the oldest text is dropped and the view says so",
    limit: 512 * KiB,
    unit: 'bytes',
    enforcedAt: 'extension/results/progress-log.ts',
  },
  pendingApprovalRequestsPerIntent: {
    who: ['agent'],
    what: "approval requests one intent may have pending at once: an honest agent awaits each call's decision before the next (a request past its expiry by the agent's clock, within the allowed skew, no longer counts)",
    limit: 1,
    unit: 'count',
    enforcedAt: 'broker/approvals/approval-service.ts',
  },
  approvalRequestsPerIntent: {
    who: ['agent'],
    what: "approval requests one intent may make in its lifetime (each is a database row and an audit line): an llm_task's calls that need a reviewer",
    limit: 256,
    unit: 'count',
    enforcedAt: 'broker/approvals/approval-service.ts',
  },
  rpcRequestUnitsPerSecond: {
    who: ['user'],
    what: "request units one user may spend in one second, across all their network sessions (the host's local socket and stdio are not budgeted; a request costs 1; one that evaluates an agent's rules, intents/dispatch or policy/test with valid params, costs 10): past it the request is refused 'rate-limited', audited once per second",
    limit: 200,
    unit: 'per-second',
    enforcedAt: 'broker/rpc/user-request-rate.ts',
  },
  pendingCancelsPerAgent: {
    who: ['user', 'agent'],
    what: "cancels the broker keeps for one agent until it answers their intents (re-sent, signed afresh, when it reconnects): past it the oldest is dropped (audited); each is re-sent at most intentResends times",
    limit: 64,
    unit: 'count',
    enforcedAt: 'broker/store/pending-cancel-store.ts (record), broker/intents/intent-router.ts (onAgentBack)',
  },
  modelResultBytes: {
    who: ['agent', 'workspace'],
    what: "UTF-8 bytes of one tool result's text handed to a model (broker mcp and the editor's language model tools: an intent's output, the agents list, the approvals list): the body is cut to fit, the cut said, the closing lines (who answered, the intent id) kept",
    limit: 64 * KiB,
    unit: 'bytes',
    enforcedAt: 'core/text/model-text.ts (boundedModelText)',
  },
  mcpMessageBytes: {
    who: ['user'],
    what: 'one JSON-RPC message an MCP client sends broker mcp on stdin (its tool arguments are what a model chose): above any params a signed intent can hold (envelopePayloadBytes); past it the server says so on stderr and stops, since the message cannot be read to answer it',
    limit: 4 * MiB,
    unit: 'bytes',
    enforcedAt: 'broker/mcp/serve-stdio.ts (the SDK stdio transport maxBufferSize)',
  },
  intentsHeldForRenewal: {
    who: ['user', 'agent'],
    what: "intents the broker keeps for one agent connection while it renews its certificate after a policy change (update_capabilities), sent once it holds the new policy; past it a dispatch is refused agent-busy (an agent that never renews cannot make the broker hold more)",
    limit: 64,
    unit: 'count',
    enforcedAt: 'broker/hub/agent-connection.ts (mayCarry), broker/intents/intent-router.ts',
  },
  renewalWaitMs: {
    who: ['agent'],
    what: "how long the broker holds intents for an agent to renew its certificate after a policy change; past it they go out under the certificate the agent has (which decides), and nothing more is held for it until it renews",
    limit: 5_000,
    unit: 'ms',
    enforcedAt: 'broker/hub/agent-connection.ts (sendUnderPolicy)',
  },
} as const satisfies Record<string, Budget>;

export type BudgetName = keyof typeof BUDGETS;
