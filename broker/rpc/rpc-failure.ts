import { RpcError } from '../../core/rpc/rpc-error';

/** A refusal a client should see: a typed reason (and its code) and a message for people, never a stack trace. */
export class RpcFailure extends RpcError {
  override readonly name = 'RpcFailure';
}

export const notFound = (what: string) => new RpcFailure('not-found', `${what} not found`);
export const conflict = (message: string) => new RpcFailure('conflict', message);
export const invalid = (message: string) => new RpcFailure('invalid-params', message);
export const forbidden = (message: string) => new RpcFailure('forbidden', message);
export const clusterUnavailable = (message: string) => new RpcFailure('cluster-unavailable', message);
