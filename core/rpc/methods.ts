import { z } from 'zod';
import { Did, IntentId, StoredText } from '../wire/common';
import { ProgressStream } from '../wire/intent';
import { IntentOrigin } from '../wire/intent-origin';
import { Capability } from '../wire/policy';
import { ADMINS, DISPATCHERS, EVERYONE, REVIEWERS, Role } from './roles';
import { AgentView, ApprovalView, GrantView, IntentDetail, IntentSummary, InvitationView, PolicyInput, PolicyTestResult, UserView } from './views';
import { page, pageParams } from './pages';
import { AgentScope } from '../wire/delegation';
import { UserName } from './user-auth';

/**
 * One table for every JSON-RPC request between a client (the extension, the
 * CLI) and the broker: its params and result schemas and the roles allowed to
 * call it. Both sides import these definitions, so they cannot drift; the
 * broker checks the role before it acts.
 */
export interface MethodSpec<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  method: string;
  params: P;
  result: R;
  roles: readonly Role[];
}

const define = <P extends z.ZodType, R extends z.ZodType>(method: string, params: P, result: R, roles: readonly Role[]) => ({
  method,
  params,
  result,
  roles,
});

const Reason = StoredText(z.string().min(1).max(500));

const Base64 = z.string().max(128 * 1024).regex(/^[A-Za-z0-9+/]*={0,2}$/, { message: 'not base64' });

/**
 * The session handshake: the only requests answered before the caller has
 * proven a user id (Challenger v1, user as initiator, broker as responder).
 */
export const SessionMethods = {
  init: { method: 'vaultysclaw/session/init', params: z.strictObject({ challenge: Base64 }), result: z.strictObject({ challenge: Base64 }) },
  complete: {
    method: 'vaultysclaw/session/complete',
    params: z.strictObject({ challenge: Base64 }),
    result: z.strictObject({ user: UserView }),
  },
} as const;

export const BrokerInfo = z.strictObject({
  did: Did,
  fingerprint: z.string(),
  id: z.string(),
  hubUrl: z.string().nullable(),
  /** The offline root that certifies this broker (what agents and users should pin), or null if it has none. */
  root: Did.nullable(),
  /** Serial and expiry of the root's certificate of this broker. */
  certificate: z.strictObject({ serial: z.number().int(), expiresAt: z.number().int() }).nullable(),
});
export type BrokerInfo = z.infer<typeof BrokerInfo>;

export const Methods = {
  brokerInfo: define('vaultysclaw/broker/info', z.strictObject({}), BrokerInfo, EVERYONE),
  /**
   * Makes the running broker take up the identity files of its data directory
   * (after \`broker identity rotate\` or \`create-root\` wrote them): it checks
   * the root's chain, re-issues delegations under a new id and tells connected
   * agents. The authority is the root's signature in those files, which only
   * the host can write; with unchanged files it changes nothing.
   */
  identityReload: define('vaultysclaw/identity/reload', z.strictObject({}), BrokerInfo, ADMINS),
  /*
   * Every list method takes a page (`limit` up to BUDGETS.listPageItems, an opaque `cursor`) and answers
   * `{ items, nextCursor }` within BUDGETS.listResponseBytes (core/rpc/pages.ts): a viewer's request costs the
   * broker one page, never the whole history.
   */
  usersList: define('vaultysclaw/users/list', pageParams({}), page(UserView), EVERYONE),
  usersSetRole: define('vaultysclaw/users/setRole', z.strictObject({ did: Did, role: Role }), UserView, ADMINS),
  usersRemove: define('vaultysclaw/users/remove', z.strictObject({ did: Did }), UserView, ADMINS),
  invitationsCreate: define(
    'vaultysclaw/invitations/create',
    z.strictObject({ role: Role, validForMs: z.number().int().positive().max(30 * 24 * 60 * 60_000).default(7 * 24 * 60 * 60_000) }),
    z.strictObject({ token: z.string(), invitation: InvitationView }),
    ADMINS,
  ),
  invitationsList: define('vaultysclaw/invitations/list', pageParams({}), page(InvitationView), ADMINS),
  invitationsRevoke: define('vaultysclaw/invitations/revoke', z.strictObject({ id: z.string().regex(/^[0-9a-f]{64}$/) }), InvitationView, ADMINS),
  grantsCreate: define(
    'vaultysclaw/grants/create',
    z.strictObject({
      user: Did,
      agent: AgentScope,
      capabilities: z.array(Capability).min(1).max(16),
      validForMs: z.number().int().positive().max(366 * 24 * 60 * 60_000),
    }),
    GrantView,
    ADMINS,
  ),
  grantsList: define('vaultysclaw/grants/list', pageParams({ user: Did.optional() }), page(GrantView), EVERYONE),
  grantsRevoke: define('vaultysclaw/grants/revoke', z.strictObject({ id: IntentId }), GrantView, ADMINS),
  approvalsList: define(
    'vaultysclaw/approvals/list',
    pageParams({ state: z.enum(['pending', 'approved', 'rejected', 'expired']).optional() }),
    page(ApprovalView),
    EVERYONE,
  ),
  approvalsGet: define('vaultysclaw/approvals/get', z.strictObject({ requestId: IntentId }), ApprovalView, EVERYONE),
  /**
   * The decision is signed by the reviewer's own key (ctx vaultysclaw/approval-decision/v1,
   * body ApprovalDecisionBody): the broker checks and countersigns it, it never signs for the reviewer.
   */
  approvalsDecide: define(
    'vaultysclaw/approvals/decide',
    z.strictObject({ payload: Base64, signature: Base64 }),
    ApprovalView,
    REVIEWERS,
  ),
  agentsList: define('vaultysclaw/agents/list', pageParams({}), page(AgentView), EVERYONE),
  agentsGet: define('vaultysclaw/agents/get', z.strictObject({ did: Did }), AgentView, EVERYONE),
  agentsRevoke: define('vaultysclaw/agents/revoke', z.strictObject({ did: Did, reason: Reason }), AgentView, ADMINS),
  policySet: define('vaultysclaw/policy/set', z.strictObject({ did: Did, policy: PolicyInput, widen: z.boolean().default(false) }), AgentView, ADMINS),
  /**
   * The dry run: which gate or rule would decide this call for this user (admins may name another with `as`), by
   * the same evaluation as intents/dispatch, without signing, recording or sending anything.
   */
  policyTest: define(
    'vaultysclaw/policy/test',
    // via: test the call as if that model dispatched it (rules with chosenBy "model" then apply).
    z.strictObject({ agent: Did, capability: Capability, params: z.record(z.string(), z.unknown()), as: Did.optional(), via: IntentOrigin.optional() }),
    PolicyTestResult,
    DISPATCHERS,
  ),
  /**
   * "Approve and allow this from now on": adds to the agent's policy the narrowest allow rule for exactly the call
   * of this approval request (its exact argv, exact path, method + host + exact path, or exact tool set; never a
   * wildcard), first in its capability's list, and re-issues the policy through update_capabilities.
   */
  policyAllowCall: define(
    'vaultysclaw/policy/allowCall',
    z.strictObject({ requestId: IntentId }),
    z.strictObject({ agent: AgentView, rule: z.string().max(1024) }),
    ADMINS,
  ),
  registrationsList: define('vaultysclaw/registrations/list', pageParams({}), page(AgentView), EVERYONE),
  registrationsApprove: define(
    'vaultysclaw/registrations/approve',
    z.strictObject({
      did: Did,
      policy: PolicyInput,
      /** Granting more than the agent asked for must be explicit. */
      widen: z.boolean().default(false),
    }),
    AgentView,
    ADMINS,
  ),
  registrationsReject: define('vaultysclaw/registrations/reject', z.strictObject({ did: Did, reason: Reason }), AgentView, ADMINS),
  intentsDispatch: define(
    'vaultysclaw/intents/dispatch',
    // via: the client says a model chose this intent (the extension's language model tools, `broker mcp`).
    z.strictObject({ agent: Did, capability: Capability, params: z.record(z.string(), z.unknown()), via: IntentOrigin.optional() }),
    IntentSummary,
    DISPATCHERS,
  ),
  /** One intent with its output and signed envelopes, within BUDGETS.intentDetailBytes (what does not fit is named in `omitted`). */
  intentsGet: define('vaultysclaw/intents/get', z.strictObject({ id: IntentId }), IntentDetail, EVERYONE),
  intentsList: define('vaultysclaw/intents/list', pageParams({ agent: Did.optional() }), page(IntentSummary), EVERYONE),
  // Names are set once at enrolment; only an admin changes one (issue 13, finding 11).
  usersRename: define('vaultysclaw/users/rename', z.strictObject({ did: Did, name: UserName }), UserView, ADMINS),
  /** Takes a revoked or rejected agent out of the lists (refused for approved and pending ones); audited as agent.removed. */
  agentsRemove: define('vaultysclaw/agents/remove', z.strictObject({ did: Did }), AgentView, ADMINS),
  /**
   * Ends an intent not final yet as `cancelled` and tells its agent (signed) to stop it. The broker lets only the
   * intent's requester and admins through: the role table cannot say "own intent".
   */
  intentsCancel: define('vaultysclaw/intents/cancel', z.strictObject({ id: IntentId }), IntentSummary, DISPATCHERS),
} satisfies Record<string, MethodSpec>;

export type MethodName = keyof typeof Methods;
export type ParamsOf<M extends MethodName> = z.input<(typeof Methods)[M]['params']>;
export type ResultOf<M extends MethodName> = z.infer<(typeof Methods)[M]['result']>;

/** Broker → client notifications. Clients refresh from these, never on a timer. */
export const Notifications = {
  agentChanged: { method: 'vaultysclaw/agents/changed', params: z.strictObject({ agent: AgentView }) },
  registrationChanged: { method: 'vaultysclaw/registrations/changed', params: z.strictObject({ agent: AgentView }) },
  intentChanged: { method: 'vaultysclaw/intents/changed', params: z.strictObject({ intent: IntentSummary }) },
  approvalChanged: { method: 'vaultysclaw/approvals/changed', params: z.strictObject({ approval: ApprovalView }) },
  userChanged: { method: 'vaultysclaw/users/changed', params: z.strictObject({ user: UserView }) },
  intentProgress: {
    method: 'vaultysclaw/intents/progress',
    params: z.strictObject({ intentId: IntentId, seq: z.number().int(), stream: ProgressStream, text: z.string() }),
  },
} as const;

/** Typed JSON-RPC error codes (application range); the message is for people, the code for programs. */
export const RpcErrorCode = {
  InvalidParams: -32602,
  Unauthenticated: -32001,
  NotFound: -32004,
  Forbidden: -32003,
  Conflict: -32009,
  Refused: -32010,
  /** The caller spent their request budget for this second (BUDGETS.rpcRequestUnitsPerSecond): try again shortly. */
  RateLimited: -32029,
  Internal: -32603,
} as const;

export { Capability };
