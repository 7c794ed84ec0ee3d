// The RPC contract, proven by the compiler: `npm run typecheck` (tsc -b) compiles this file, and each
// `@ts-expect-error` below fails the build if the line under it stops being an error. Nothing here runs.
import type { MethodHandler, MethodHandlers, RpcChannel, Forwarders } from '../../../broker/rpc/rpc-handlers';
import type { BrokerEvent, BrokerEventBus } from '../../../broker/events';
import type { BrokerInfo, ResultOf } from '../../../core/rpc/methods';
import type { RpcClient } from '../../../core/rpc/rpc-client';
import { notificationType, requestType } from '../../../core/rpc/rpc-contract';
import { RpcError, type RpcErrorReason } from '../../../core/rpc/rpc-error';
import type { AgentView, UserView } from '../../../core/rpc/views';

declare const info: BrokerInfo;
declare const user: UserView;
declare const agent: AgentView;
declare const channel: RpcChannel;
declare const client: RpcClient;
declare const bus: BrokerEventBus;

// A handler answers its own method's result.
export const rightHandler: MethodHandler<'brokerInfo'> = () => info;
// @ts-expect-error brokerInfo answers a BrokerInfo, not a UserView
export const wrongHandler: MethodHandler<'brokerInfo'> = () => user;
// @ts-expect-error a handler's result is never unknown
export const unknownHandler: MethodHandler<'usersRemove'> = (): unknown => user;
// @ts-expect-error agentsGet's params have no requestId
export const wrongParams: MethodHandler<'agentsGet'> = (p) => ({ ...agent, did: p.requestId });

// The table has a handler for every method.
// @ts-expect-error a table without usersRename does not compile
export const incomplete: MethodHandlers = {} as Omit<MethodHandlers, 'usersRename'>;

// Registered through its RequestType, a handler is held to the method's result as vscode-jsonrpc types it.
channel.onRequest(requestType('usersRemove'), () => user);
// @ts-expect-error usersRemove answers a UserView
channel.onRequest(requestType('usersRemove'), () => info);

// Notifications carry their method's params, and the events are derived from them.
void channel.sendNotification(notificationType('userChanged'), { user });
// @ts-expect-error userChanged carries { user }, not { agent }
void channel.sendNotification(notificationType('userChanged'), { agent });
export const agentEvent: BrokerEvent<'agentChanged'> = agent;
// @ts-expect-error agentChanged carries an AgentView
export const wrongEvent: BrokerEvent<'agentChanged'> = user;
bus.on('userChanged', (u: UserView) => u.did);
// @ts-expect-error userChanged hands on a UserView, not an AgentView
bus.on('userChanged', (a: AgentView) => a.policy);
// @ts-expect-error the forwarder of agentChanged must build { agent }
export const wrongForwarder: Forwarders['agentChanged'] = { wrap: (a) => ({ user: a }) };

// The one client: each call resolves to its method's result and takes its method's params.
export const called: Promise<ResultOf<'usersRemove'>> = client.call('usersRemove', { did: user.did });
// @ts-expect-error usersRemove resolves to a UserView, not a BrokerInfo
export const wrongResult: Promise<BrokerInfo> = client.call('usersRemove', { did: user.did });
// @ts-expect-error usersRemove takes a did
export const missingParam = client.call('usersRemove', {});

// Reasons come from one enum.
export const reason: RpcErrorReason = 'user-removed';
// @ts-expect-error not a reason of the enum
export const madeUp = new RpcError('removed-user', 'x');
