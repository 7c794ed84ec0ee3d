import type { z } from 'zod';
import { NotificationType, RequestType } from 'vscode-jsonrpc';
import { Methods, Notifications, SessionMethods, type MethodName, type ParamsOf, type ResultOf } from './methods';
import type { RpcErrorData } from './rpc-error';

/**
 * The method table as vscode-jsonrpc types (RequestType<P, R, E>, NotificationType<P>): the broker registers
 * its handlers and sends its notifications through these, so the compiler holds each handler to its method's
 * result and each notification to its params, the way a language server is held to the LSP.
 */
export type RpcRequestType<M extends MethodName> = RequestType<ParamsOf<M>, ResultOf<M>, RpcErrorData>;

export function requestType<M extends MethodName>(name: M): RpcRequestType<M> {
  return new RequestType<ParamsOf<M>, ResultOf<M>, RpcErrorData>(Methods[name].method);
}

type Session = typeof SessionMethods;
export type SessionMethodName = keyof Session;

/** The two requests of the session handshake, answered before the caller has proven a user id. */
export function sessionRequestType<K extends SessionMethodName>(name: K): RequestType<z.input<Session[K]['params']>, z.output<Session[K]['result']>, RpcErrorData> {
  return new RequestType<z.input<Session[K]['params']>, z.output<Session[K]['result']>, RpcErrorData>(SessionMethods[name].method);
}

export type NotificationName = keyof typeof Notifications;
export type NotificationParams<K extends NotificationName> = z.infer<(typeof Notifications)[K]['params']>;

export function notificationType<K extends NotificationName>(name: K): NotificationType<NotificationParams<K>> {
  return new NotificationType<NotificationParams<K>>(Notifications[name].method);
}
