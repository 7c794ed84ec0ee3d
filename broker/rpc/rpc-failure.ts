import { RpcErrorCode } from '../../core/rpc/methods';

/** A refusal a client should see: a typed code and a message for people, never a stack trace. */
export class RpcFailure extends Error {
  constructor(
    readonly code: (typeof RpcErrorCode)[keyof typeof RpcErrorCode],
    message: string,
  ) {
    super(message);
    this.name = 'RpcFailure';
  }
}

export const notFound = (what: string) => new RpcFailure(RpcErrorCode.NotFound, `${what} not found`);
export const conflict = (message: string) => new RpcFailure(RpcErrorCode.Conflict, message);
export const invalid = (message: string) => new RpcFailure(RpcErrorCode.InvalidParams, message);
export const forbidden = (message: string) => new RpcFailure(RpcErrorCode.Forbidden, message);
