import { z } from 'zod';
import { Did, IntentId } from '../wire/common';
import { Capability } from '../wire/policy';
import { ADMINS, DISPATCHERS, EVERYONE, type Role } from './roles';
import { AgentView, IntentView, PolicyInput } from './views';

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

const Reason = z.string().min(1).max(500);

export const Methods = {
  agentsList: define('vaultysclaw/agents/list', z.strictObject({}), z.array(AgentView), EVERYONE),
  agentsGet: define('vaultysclaw/agents/get', z.strictObject({ did: Did }), AgentView, EVERYONE),
  agentsRevoke: define('vaultysclaw/agents/revoke', z.strictObject({ did: Did, reason: Reason }), AgentView, ADMINS),
  policySet: define('vaultysclaw/policy/set', z.strictObject({ did: Did, policy: PolicyInput, widen: z.boolean().default(false) }), AgentView, ADMINS),
  registrationsList: define('vaultysclaw/registrations/list', z.strictObject({}), z.array(AgentView), EVERYONE),
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
    z.strictObject({ agent: Did, capability: Capability, params: z.record(z.string(), z.unknown()) }),
    IntentView,
    DISPATCHERS,
  ),
  intentsGet: define('vaultysclaw/intents/get', z.strictObject({ id: IntentId }), IntentView, EVERYONE),
  intentsList: define(
    'vaultysclaw/intents/list',
    z.strictObject({ agent: Did.optional(), limit: z.number().int().positive().max(1000).default(100) }),
    z.array(IntentView),
    EVERYONE,
  ),
} satisfies Record<string, MethodSpec>;

export type MethodName = keyof typeof Methods;
export type ParamsOf<M extends MethodName> = z.input<(typeof Methods)[M]['params']>;
export type ResultOf<M extends MethodName> = z.infer<(typeof Methods)[M]['result']>;

/** Broker → client notifications. Clients refresh from these, never on a timer. */
export const Notifications = {
  agentChanged: { method: 'vaultysclaw/agents/changed', params: z.strictObject({ agent: AgentView }) },
  registrationChanged: { method: 'vaultysclaw/registrations/changed', params: z.strictObject({ agent: AgentView }) },
  intentChanged: { method: 'vaultysclaw/intents/changed', params: z.strictObject({ intent: IntentView }) },
  intentProgress: {
    method: 'vaultysclaw/intents/progress',
    params: z.strictObject({ intentId: IntentId, seq: z.number().int(), stream: z.enum(['stdout', 'stderr', 'status']), text: z.string() }),
  },
} as const;

/** Typed JSON-RPC error codes (application range); the message is for people, the code for programs. */
export const RpcErrorCode = {
  InvalidParams: -32602,
  NotFound: -32004,
  Forbidden: -32003,
  Conflict: -32009,
  Refused: -32010,
  Internal: -32603,
} as const;

export { Capability };
