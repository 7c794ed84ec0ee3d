import { z } from 'zod';
import { ResponseError } from 'vscode-jsonrpc';
import { RpcErrorCode } from './methods';

/**
 * Why an RPC request failed, for programs: every error the broker answers carries one in `data.reason`, and
 * the client's own refusals of the broker (its pinned DID not proven) carry one too. Callers branch on this,
 * never on the message, which is for people and may be reworded at any time.
 */
export const RpcErrorReason = z.enum([
  /** The params do not match the method's schema, or a value in them is refused. */
  'invalid-params',
  /** A method other than the handshake before the caller proved a user id. */
  'unauthenticated',
  'already-authenticated',
  /** The session handshake itself failed (a Challenger message refused, or out of order). */
  'handshake-refused',
  /** The key is not a person id. */
  'not-a-person',
  /** A stranger without an invitation: an admin's invitation lets them in. */
  'invitation-needed',
  /** The invitation is unknown, used, revoked or expired, or whoever created it may no longer grant its role. */
  'invitation-invalid',
  /** A fresh broker enrols its first owner on its host only. */
  'no-owner-yet',
  /** A newcomer's name reads like another user's. */
  'name-taken',
  'user-removed',
  /** The caller's role may not call this method (RBAC). */
  'role-forbidden',
  /** The role may call the method, but a rule of the broker refuses this use of it. */
  'forbidden',
  'not-found',
  /** The thing is not in a state that allows the request (already decided, revoked, expired…). */
  'conflict',
  /** The broker cannot write its data. */
  'storage-failed',
  /** The caller sent more requests this second than their budget (BUDGETS.rpcRequestUnitsPerSecond). */
  'rate-limited',
  'internal',
  /** Client side: the broker answered a result that does not match the method's schema. */
  'invalid-result',
  /** Client side: the broker did not prove the pinned DID (or a key its pinned root certifies). */
  'broker-not-pinned',
  /** Client side: the broker proved its id but certified no role for the user. */
  'no-role-certified',
  /** Client side: a handshake message from the broker was refused. */
  'broker-handshake-refused',
  /** This broker node of a cluster cannot reach the others (its NATS bus is down): work that needs another node fails until it is back. */
  'cluster-unavailable',
]);
export type RpcErrorReason = z.infer<typeof RpcErrorReason>;

type RpcErrorCodeValue = (typeof RpcErrorCode)[keyof typeof RpcErrorCode];

/**
 * The JSON-RPC code of each reason: the code is the coarse class older clients read, the reason the exact case.
 * Refused is the client's own refusal of the broker, never sent by one.
 */
export const RPC_ERROR_CODES = {
  'invalid-params': RpcErrorCode.InvalidParams,
  unauthenticated: RpcErrorCode.Unauthenticated,
  'already-authenticated': RpcErrorCode.Conflict,
  'handshake-refused': RpcErrorCode.Unauthenticated,
  'not-a-person': RpcErrorCode.Unauthenticated,
  'invitation-needed': RpcErrorCode.Unauthenticated,
  'invitation-invalid': RpcErrorCode.Unauthenticated,
  'no-owner-yet': RpcErrorCode.Unauthenticated,
  'name-taken': RpcErrorCode.Unauthenticated,
  'user-removed': RpcErrorCode.Unauthenticated,
  'role-forbidden': RpcErrorCode.Forbidden,
  forbidden: RpcErrorCode.Forbidden,
  'not-found': RpcErrorCode.NotFound,
  conflict: RpcErrorCode.Conflict,
  'storage-failed': RpcErrorCode.Internal,
  'rate-limited': RpcErrorCode.RateLimited,
  internal: RpcErrorCode.Internal,
  'invalid-result': RpcErrorCode.Internal,
  'broker-not-pinned': RpcErrorCode.Refused,
  'no-role-certified': RpcErrorCode.Refused,
  'broker-handshake-refused': RpcErrorCode.Refused,
  'cluster-unavailable': RpcErrorCode.Internal,
} as const satisfies Record<RpcErrorReason, RpcErrorCodeValue>;

/** What `data` holds in every error response of the broker. */
export const RpcErrorData = z.object({ reason: RpcErrorReason });
export type RpcErrorData = z.infer<typeof RpcErrorData>;

/** An RPC error with its reason; thrown by the broker's handlers (vscode-jsonrpc answers it as is) and by the client. */
export class RpcError extends ResponseError<RpcErrorData> {
  constructor(
    readonly reason: RpcErrorReason,
    message: string,
  ) {
    super(RPC_ERROR_CODES[reason], message, { reason });
    // ResponseError's constructor sets its own prototype on the instance: without this, `instanceof` a subclass is false.
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/**
 * The reason of a failed request, whoever raised it: an RpcError, or the ResponseError vscode-jsonrpc
 * rebuilds from the broker's answer. Undefined when the error carries none (a transport failure, a broker
 * older than reasons): a caller then takes the general path, never a guess from the message.
 */
export function rpcErrorReason(err: unknown): RpcErrorReason | undefined {
  if (err instanceof RpcError) return err.reason;
  // Read by shape: the language client may hand on a ResponseError of its own copy of vscode-jsonrpc.
  const data = RpcErrorData.safeParse(typeof err === 'object' && err !== null && 'data' in err ? err.data : undefined);
  return data.success ? data.data.reason : undefined;
}
