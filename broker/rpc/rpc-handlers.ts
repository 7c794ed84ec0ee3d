import type pino from 'pino';
import { ResponseError } from 'vscode-jsonrpc';
import { Methods, Notifications, RpcErrorCode, type MethodName, type MethodSpec } from '../../core/rpc/methods';
import type { Role } from '../../core/rpc/roles';
import type { Broker } from '../broker';
import { notFound, RpcFailure } from './rpc-failure';

/** Who is calling: a proven user DID and the role RBAC resolves from it. */
export interface RpcCaller {
  did: string;
  role: Role;
}

/** The part of a JSON-RPC connection the broker uses; both vscode-languageserver and vscode-jsonrpc connections fit. */
export interface RpcChannel {
  onRequest(method: string, handler: (params: unknown) => unknown): unknown;
  sendNotification(method: string, params: unknown): unknown;
}

type Handlers = { [M in MethodName]: (params: ReturnType<(typeof Methods)[M]['params']['parse']>, caller: RpcCaller) => unknown };

function handlers(broker: Broker): Handlers {
  return {
    agentsList: () => broker.directory.list(),
    agentsGet: (p) => broker.directory.get(p.did) ?? throwError(notFound(`agent ${p.did}`)),
    agentsRevoke: (p, c) => broker.registrations.revoke(c.did, p.did, p.reason),
    policySet: (p, c) => broker.registrations.setPolicy(c.did, p.did, p.policy, p.widen),
    registrationsList: () => broker.directory.list((r) => r.status === 'pending'),
    registrationsApprove: (p, c) => broker.registrations.approve(c.did, p.did, p.policy, p.widen),
    registrationsReject: (p, c) => broker.registrations.reject(c.did, p.did, p.reason),
    intentsDispatch: (p, c) => broker.router.dispatch(c.did, p),
    intentsGet: (p) => broker.intents.get(p.id) ?? throwError(notFound(`intent ${p.id}`)),
    intentsList: (p) => broker.intents.list(p.agent, p.limit),
  };
}

function throwError(error: Error): never {
  throw error;
}

/**
 * Binds every method of the table to a connection: params validated with the
 * method's schema, the caller's role checked against the method's roles before
 * anything runs, refusals audited. Returns a function that unbinds the
 * connection's notifications.
 */
export function bindRpc(channel: RpcChannel, broker: Broker, caller: RpcCaller, log: pino.Logger): () => void {
  const table = handlers(broker);
  for (const [name, spec] of Object.entries(Methods) as [MethodName, MethodSpec][]) {
    channel.onRequest(spec.method, (raw: unknown) => {
      if (!spec.roles.includes(caller.role)) {
        log.warn({ event: 'rpc.forbidden', method: spec.method, did: caller.did, role: caller.role }, 'method refused by RBAC');
        throw new ResponseError(RpcErrorCode.Forbidden, `role ${caller.role} may not call ${spec.method}`);
      }
      const params = spec.params.safeParse(raw ?? {});
      if (!params.success) {
        const issue = params.error.issues[0];
        throw new ResponseError(RpcErrorCode.InvalidParams, `${issue?.path.join('.') || 'params'}: ${issue?.message ?? 'invalid'}`);
      }
      try {
        return (table[name] as (p: unknown, c: RpcCaller) => unknown)(params.data, caller);
      } catch (err) {
        if (err instanceof RpcFailure) {
          log.warn({ event: 'rpc.refused', method: spec.method, did: caller.did, code: err.code, detail: err.message }, 'request refused');
          throw new ResponseError(err.code, err.message);
        }
        log.error({ event: 'rpc.error', method: spec.method, err: (err as Error).message }, 'request failed');
        throw new ResponseError(RpcErrorCode.Internal, 'internal error; see the broker log');
      }
    });
  }
  // A client that went away mid-notification is not an error worth more than a debug line.
  const forward = <K extends keyof typeof Notifications>(key: K) => (params: unknown) =>
    void Promise.resolve(channel.sendNotification(Notifications[key].method, params)).catch((err: Error) =>
      log.debug({ event: 'rpc.notify-failed', err: err.message }, 'notification not delivered'),
    );
  const onAgent = (agent: unknown) => forward('agentChanged')({ agent });
  const onRegistration = (agent: unknown) => forward('registrationChanged')({ agent });
  const onIntent = (intent: unknown) => forward('intentChanged')({ intent });
  const onProgress = forward('intentProgress');
  broker.events.on('agentChanged', onAgent);
  broker.events.on('registrationChanged', onRegistration);
  broker.events.on('intentChanged', onIntent);
  broker.events.on('intentProgress', onProgress);
  return () => {
    broker.events.off('agentChanged', onAgent);
    broker.events.off('registrationChanged', onRegistration);
    broker.events.off('intentChanged', onIntent);
    broker.events.off('intentProgress', onProgress);
  };
}
