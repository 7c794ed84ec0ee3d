import type { z } from 'zod';
import type pino from 'pino';
import type { Disposable, NotificationType, RequestHandler, RequestType } from 'vscode-jsonrpc';
import { ChallengeResponder, VaultysId } from '../../core/identity';
import { Methods, Notifications, RpcErrorCode, SessionMethods, type MethodName, type ResultOf } from '../../core/rpc/methods';
import { notificationType, requestType, sessionRequestType, type NotificationName, type NotificationParams } from '../../core/rpc/rpc-contract';
import { RpcError, type RpcErrorReason } from '../../core/rpc/rpc-error';
import type { Role } from '../../core/rpc/roles';
import { USER_AUTH, UserHello, type UserGrant } from '../../core/rpc/user-auth';
import type { Broker } from '../broker';
import type { RpcOrigin } from '../users/user-service';
import type { BrokerEvent } from '../events';
import { ProgressAudience } from './progress-audience';
import { testPolicy } from '../intents/policy-test';
import { storageFailure } from '../../core/storage/storage-failure';
import { notFound } from './rpc-failure';
import { summarizeApproval, summarizeIntent } from '../store/summary-params';
import type { SessionEdge } from '../hub/socket-edge';
import { audit } from '../audit/audit-log';
import type { AuditLine } from '../../core/audit/events';
import { BUDGETS } from '../../core/budgets';
import { requestUnits } from './user-request-rate';

/** Who is calling: a proven user DID and the role RBAC resolves from it at this request. */
export interface RpcCaller {
  did: string;
  role: Role;
}

/** The part of a JSON-RPC connection the broker uses; both vscode-languageserver and vscode-jsonrpc connections fit. */
export interface RpcChannel {
  onRequest<P, R, E>(type: RequestType<P, R, E>, handler: RequestHandler<P, R, E>): Disposable;
  sendNotification<P>(type: NotificationType<P>, params?: P): Promise<void>;
}

type ParsedParams<M extends MethodName> = z.output<(typeof Methods)[M]['params']>;

/** A method's handler, held by the compiler to the result its method declares (test/broker/rpc/rpc-contract.types.ts). */
export type MethodHandler<M extends MethodName> = (params: ParsedParams<M>, caller: RpcCaller) => ResultOf<M> | Promise<ResultOf<M>>;
/** One handler for every method of the table: a method added there without one here does not compile. */
export type MethodHandlers = { [M in MethodName]: MethodHandler<M> };

function handlers(broker: Broker, audience: ProgressAudience): MethodHandlers {
  return {
    brokerInfo: () => broker.info(),
    identityReload: (_p, c) => broker.reloadIdentity(c.did),
    usersList: (p) => broker.users.page(p),
    usersSetRole: (p, c) => broker.users.setRole(c, p.did, p.role),
    usersRemove: (p, c) => broker.users.remove(c, p.did),
    invitationsCreate: (p, c) => broker.users.invite(c, p.role, p.validForMs),
    invitationsList: (p) => broker.users.pageInvitations(p),
    invitationsRevoke: (p, c) => broker.users.revokeInvitation(c, p.id),
    grantsCreate: (p, c) => broker.delegations.grant(c.did, p),
    grantsList: (p) => broker.delegations.page(p.user, p),
    grantsRevoke: (p, c) => broker.delegations.revoke(c.did, p.id),
    approvalsList: (p) => broker.approvals.list(p.state, p),
    approvalsGet: (p) => broker.approvals.get(p.requestId),
    approvalsDecide: (p, c) =>
      broker.approvals.decide(c, { payload: new Uint8Array(Buffer.from(p.payload, 'base64')), signature: new Uint8Array(Buffer.from(p.signature, 'base64')) }),
    agentsList: (p) => broker.directory.page(undefined, p),
    agentsGet: async (p) => (await broker.directory.get(p.did)) ?? throwError(notFound(`agent ${p.did}`)),
    agentsRevoke: (p, c) => broker.registrations.revoke(c.did, p.did, p.reason),
    policyTest: (p, c) => testPolicy({ router: broker.router, users: broker.users }, c, p),
    policyAllowCall: async (p, c) => broker.registrations.allowCall(c.did, await broker.approvals.get(p.requestId)),
    policySet: (p, c) => broker.registrations.setPolicy(c.did, p.did, p.policy, p.widen),
    registrationsList: (p) => broker.directory.page('pending', p),
    registrationsApprove: (p, c) => broker.registrations.approve(c.did, p.did, p.policy, p.widen),
    registrationsReject: (p, c) => broker.registrations.reject(c.did, p.did, p.reason),
    intentsDispatch: async (p, c) => summarizeIntent(await broker.router.dispatch(c, p)),
    intentsGet: async (p) => {
      // Reading an intent is watching it: its progress comes to this session from then on.
      audience.watch(p.id);
      return (await broker.intents.detail(p.id)) ?? throwError(notFound(`intent ${p.id}`));
    },
    intentsList: (p) => broker.intents.list(p, p),
    usersRename: (p, c) => broker.users.rename(c, p.did, p.name),
    agentsRemove: (p, c) => broker.registrations.remove(c.did, p.did),
    intentsCancel: async (p, c) => summarizeIntent(await broker.router.cancel(c, p.id)),
  };
}

/** How each broker event becomes its notification, and which sessions hear it. */
export type Forwarders = { [K in NotificationName]: { wrap: (event: BrokerEvent<K>) => NotificationParams<K>; wanted?: (event: BrokerEvent<K>) => boolean } };

function forwarders(audience: ProgressAudience): Forwarders {
  return {
    agentChanged: { wrap: (agent) => ({ agent }) },
    registrationChanged: { wrap: (agent) => ({ agent }) },
    intentChanged: { wrap: (intent) => ({ intent: summarizeIntent(intent) }) },
    userChanged: { wrap: (user) => ({ user }) },
    approvalChanged: { wrap: (approval) => ({ approval: summarizeApproval(approval) }) },
    intentProgress: { wrap: ({ intentId, seq, stream, text }) => ({ intentId, seq, stream, text }), wanted: (progress) => audience.wants(progress) },
  };
}

function throwError(error: Error): never {
  throw error;
}

function parsed<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new RpcError('invalid-params', `${issue?.path.join('.') || 'params'}: ${issue?.message ?? 'invalid'}`);
}

/**
 * Binds the session handshake and every method of the table to one
 * connection. Until the caller has proven a user id, nothing but the
 * handshake answers. Then, at every request, the role is resolved from the
 * proven DID and checked against the method's roles before anything runs;
 * refusals are audited. `origin` says whether the channel is the broker host's
 * own (local socket, stdio: a first owner may enrol there) or the network
 * (the default, so a transport that forgets to say is never trusted).
 * Returns a function that unbinds the connection.
 */
export function bindRpc(
  channel: RpcChannel,
  broker: Broker,
  log: pino.Logger,
  origin: RpcOrigin = 'network',
  edge?: Pick<SessionEdge, 'authenticated' | 'refused'>,
): () => void {
  let caller: string | undefined;
  // On the hub's /rpc a stranger chooses how often it is refused: the edge audits that within its budget.
  const refused = (line: AuditLine<'auth.refused'>, message: string) => (edge ? edge.refused(line, message) : audit(log).line('warn', line, message));
  let handshake: { responder: ChallengeResponder; hello?: UserHello } | undefined;

  channel.onRequest(sessionRequestType('init'), async (raw: unknown) => {
    if (caller) throw new RpcError('already-authenticated', 'this session is already authenticated');
    const params = parsed(SessionMethods.init.params, raw);
    // One read of both: the chain presented must be the one of the key that signs.
    const { identity, authority } = broker.keys;
    // Why the user was not admitted, when that is why the responder refused: what the client branches on.
    let refusal: RpcErrorReason = 'handshake-refused';
    const h: { responder: ChallengeResponder; hello?: UserHello } = {
      responder: new ChallengeResponder({
        identity,
        ...USER_AUTH,
        now: broker.now,
        admit: async (id, metadata) => {
          const hello = UserHello.safeParse(metadata);
          if (!hello.success) {
            const issue = hello.error.issues[0];
            return { ok: false, message: `metadata.pk1 is not a user hello: ${issue?.path.join('.') || 'hello'}: ${issue?.message ?? 'invalid'}` };
          }
          const admission = await broker.users.preview(id, hello.data, origin);
          if (!admission.ok) {
            refusal = admission.reason;
            return admission;
          }
          h.hello = hello.data;
          const grant: UserGrant = { role: admission.role, brokerName: 'vaultysclaw', ...(authority ? { authority } : {}) };
          return { ok: true, value: { metadata: grant } };
        },
      }),
    };
    handshake = h;
    const accepted = await h.responder.acceptAsync(new Uint8Array(Buffer.from(params.challenge, 'base64')));
    if (!accepted.ok) {
      // Refused by the admission: its own reason (invitation-needed, no-owner-yet…), which the operator reads in the audit.
      refused({ event: 'auth.refused', kind: 'user', reason: accepted.reason === 'peer-refused' ? refusal : accepted.reason, detail: accepted.message }, 'user handshake refused');
      throw new RpcError(accepted.reason === 'peer-refused' ? refusal : 'handshake-refused', `${accepted.reason}: ${accepted.message}`);
    }
    return { challenge: Buffer.from(accepted.value.step1).toString('base64') };
  });

  channel.onRequest(sessionRequestType('complete'), async (raw: unknown) => {
    if (caller) throw new RpcError('already-authenticated', 'this session is already authenticated');
    const params = parsed(SessionMethods.complete.params, raw);
    if (!handshake?.hello) throw new RpcError('handshake-refused', 'out-of-order: no session/init to complete');
    const result = handshake.responder.complete(new Uint8Array(Buffer.from(params.challenge, 'base64')));
    if (!result.ok) {
      refused({ event: 'auth.refused', kind: 'user', reason: result.reason, detail: result.message }, 'user handshake refused');
      throw new RpcError('handshake-refused', `${result.reason}: ${result.message}`);
    }
    const user: VaultysId = result.value.initiator;
    const admission = await broker.users.enroll(user, handshake.hello, origin);
    if (!admission.ok) {
      refused({ event: 'auth.refused', kind: 'user', did: user.did, reason: 'not-a-user', detail: admission.message }, 'user refused');
      throw new RpcError(admission.reason, admission.message);
    }
    caller = user.did;
    edge?.authenticated();
    audit(log).info('auth.succeeded', { kind: 'user', did: user.did, role: admission.role }, 'user authenticated');
    return { user: (await broker.users.view(user.did))! };
  });

  const audience = new ProgressAudience(() => caller);
  const table = handlers(broker, audience);
  const bind = <M extends MethodName>(name: M) => {
    const spec = Methods[name];
    /** A failure that is no refusal: the database's answered storage-failed, with what it says; anything else internal. */
    const failure = (err: unknown): RpcError => {
      audit(log).error('rpc.error', { method: spec.method, err: (err as Error)?.message ?? String(err) }, 'request failed');
      const storage = storageFailure(err);
      return storage ? new RpcError('storage-failed', `the broker cannot write its data: ${storage}; the request failed`) : new RpcError('internal', 'internal error; see the broker log');
    };
    channel.onRequest(requestType(name), async (raw: unknown): Promise<ResultOf<M>> => {
      if (!caller) throw new RpcError('unauthenticated', 'prove your identity first (vaultysclaw/session/init)');
      // Before the role check: a refused request costs an audit line, so a flood of forbidden calls is budgeted too.
      // The host's own channels (local socket, stdio) are not: whoever reaches them already holds the data directory.
      const spend = (units: number) => {
        const rate = origin === 'host' ? 'admitted' : broker.requestRate.take(caller!, units);
        if (rate === 'admitted') return;
        const message = `too many requests this second (more than ${BUDGETS.rpcRequestUnitsPerSecond.limit} units; ${spec.method} costs ${requestUnits(name)}): try again shortly`;
        if (rate === 'refused-first') audit(log).warn('rpc.refused', { method: spec.method, did: caller!, code: RpcErrorCode.RateLimited, reason: 'rate-limited', detail: message }, 'request rate budget spent');
        throw new RpcError('rate-limited', message);
      };
      spend(1);
      const inFlight = origin === 'host' ? undefined : broker.requestsInFlight.enter(caller);
      if (inFlight && inFlight.verdict !== 'admitted') {
        const message = `${BUDGETS.rpcRequestsInFlight.limit} requests of yours are still being answered: wait for their answers, then try again`;
        if (inFlight.verdict === 'refused-first') audit(log).warn('rpc.refused', { method: spec.method, did: caller, code: RpcErrorCode.RateLimited, reason: 'rate-limited', detail: message }, 'requests in flight budget spent');
        throw new RpcError('rate-limited', message);
      }
      try {
        return await answer(caller, raw, spend);
      } finally {
        inFlight?.leave();
      }
    });
    /** An admitted request: the caller's role, its params, the method. */
    const answer = async (caller: string, raw: unknown, spend: (units: number) => void): Promise<ResultOf<M>> => {
      // Read from the database like the method itself: its failure is answered storage-failed too, not as a raw error.
      const role = await broker.users.roleOf(caller).catch((err: unknown) => {
        throw failure(err);
      });
      if (!role || !spec.roles.includes(role)) {
        audit(log).warn('rpc.forbidden', { method: spec.method, did: caller, role: role ?? 'none' }, 'method refused by RBAC');
        throw new RpcError('role-forbidden', `${role ? `role ${role}` : 'a removed user'} may not call ${spec.method}`);
      }
      // The one place the compiler is told rather than shown: this schema is Methods[name].params, so its output is
      // ParsedParams<M> (zod's types do not carry an indexed table's key through safeParse).
      const params = parsed(spec.params, raw) as ParsedParams<M>;
      // The rest of what a rule evaluation costs, once the params are valid enough to evaluate.
      if (requestUnits(name) > 1) spend(requestUnits(name) - 1);
      try {
        return await table[name](params, { did: caller, role });
      } catch (err) {
        if (err instanceof RpcError) {
          audit(log).warn('rpc.refused', { method: spec.method, did: caller, code: err.code, reason: err.reason, detail: err.message }, 'request refused');
          throw err;
        }
        throw failure(err);
      }
    };
  };
  for (const name of Object.keys(Methods) as MethodName[]) bind(name);

  // Notifications go to authenticated sessions only. They are sent from inside the event bus, that is from an
  // agent's frame or a timer: a client that went away mid-notification (vscode-jsonrpc throws synchronously on a
  // disposed connection) is worth a debug line and must never fail the agent's frame or reach another session.
  const forwarding = forwarders(audience);
  const notifyFailed = (err: unknown) => audit(log).debug('rpc.notify-failed', { err: (err as Error)?.message ?? String(err) }, 'notification not delivered');
  // One chain per session: each notification waits for the role read of the one before, so a session hears its
  // events in the order they happened (an intent's `running` never after its `succeeded`).
  let delivery: Promise<void> = Promise.resolve();
  const subscribe = <K extends NotificationName>(key: K): (() => void) => {
    const { wrap, wanted } = forwarding[key];
    const type = notificationType(key);
    const listener = (event: BrokerEvent<K>) => {
      delivery = delivery
        .then(async () => {
          if (!caller || !(await broker.users.roleOf(caller)) || (wanted && !wanted(event))) return;
          channel.sendNotification(type, wrap(event)).catch(notifyFailed);
        })
        .catch(notifyFailed);
    };
    broker.events.onClient(key, listener);
    return () => broker.events.offClient(key, listener);
  };
  const unsubscribe = (Object.keys(Notifications) as NotificationName[]).map(subscribe);
  return () => {
    for (const off of unsubscribe) off();
  };
}
