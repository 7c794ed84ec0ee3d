import type pino from 'pino';
import { ResponseError } from 'vscode-jsonrpc';
import { ChallengeResponder, VaultysId } from '../../core/identity';
import { Methods, Notifications, RpcErrorCode, SessionMethods, type MethodName, type MethodSpec } from '../../core/rpc/methods';
import type { Role } from '../../core/rpc/roles';
import { USER_AUTH, UserHello, type UserGrant } from '../../core/rpc/user-auth';
import type { Broker } from '../broker';
import type { RpcOrigin } from '../users/user-service';
import type { BrokerEvents } from '../events';
import { ProgressAudience } from './progress-audience';
import { storageFailure } from '../../core/storage/storage-failure';
import { notFound, RpcFailure } from './rpc-failure';
import { summarizeApproval, summarizeIntent } from '../store/summary-params';
import type { ApprovalView, IntentView } from '../../core/rpc/views';
import { guarded } from '../../core/io/guarded';
import type { SessionEdge } from '../hub/socket-edge';
import { audit } from '../audit/audit-log';
import type { AuditLine } from '../../core/audit/events';

/** Who is calling: a proven user DID and the role RBAC resolves from it at this request. */
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
    agentsGet: (p) => broker.directory.get(p.did) ?? throwError(notFound(`agent ${p.did}`)),
    agentsRevoke: (p, c) => broker.registrations.revoke(c.did, p.did, p.reason),
    policySet: (p, c) => broker.registrations.setPolicy(c.did, p.did, p.policy, p.widen),
    registrationsList: (p) => broker.directory.page('pending', p),
    registrationsApprove: (p, c) => broker.registrations.approve(c.did, p.did, p.policy, p.widen),
    registrationsReject: (p, c) => broker.registrations.reject(c.did, p.did, p.reason),
    intentsDispatch: (p, c) => summarizeIntent(broker.router.dispatch(c, p)),
    intentsGet: (p) => broker.intents.detail(p.id) ?? throwError(notFound(`intent ${p.id}`)),
    intentsList: (p) => broker.intents.list(p, p),
    usersRename: (p, c) => broker.users.rename(c, p.did, p.name),
  };
}

function throwError(error: Error): never {
  throw error;
}

function parsed<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } } }, raw: unknown): T {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new ResponseError(RpcErrorCode.InvalidParams, `${issue?.path.join('.') || 'params'}: ${issue?.message ?? 'invalid'}`);
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

  channel.onRequest(SessionMethods.init.method, (raw: unknown) => {
    if (caller) throw new ResponseError(RpcErrorCode.Conflict, 'this session is already authenticated');
    const params = parsed(SessionMethods.init.params, raw);
    // One read of both: the chain presented must be the one of the key that signs.
    const { identity, authority } = broker.keys;
    const h: { responder: ChallengeResponder; hello?: UserHello } = {
      responder: new ChallengeResponder({
        identity,
        ...USER_AUTH,
        now: broker.now,
        admit: (id, metadata) => {
          const hello = UserHello.safeParse(metadata);
          if (!hello.success) {
            const issue = hello.error.issues[0];
            return { ok: false, message: `metadata.pk1 is not a user hello: ${issue?.path.join('.') || 'hello'}: ${issue?.message ?? 'invalid'}` };
          }
          const admission = broker.users.preview(id, hello.data, origin);
          if (!admission.ok) return admission;
          h.hello = hello.data;
          const grant: UserGrant = { role: admission.role, brokerName: 'vaultysclaw', ...(authority ? { authority } : {}) };
          return { ok: true, value: { metadata: grant } };
        },
      }),
    };
    handshake = h;
    const accepted = h.responder.accept(new Uint8Array(Buffer.from(params.challenge, 'base64')));
    if (!accepted.ok) {
      refused({ event: 'auth.refused', kind: 'user', reason: accepted.reason, detail: accepted.message }, 'user handshake refused');
      throw new ResponseError(RpcErrorCode.Unauthenticated, `${accepted.reason}: ${accepted.message}`);
    }
    return { challenge: Buffer.from(accepted.value.step1).toString('base64') };
  });

  channel.onRequest(SessionMethods.complete.method, (raw: unknown) => {
    if (caller) throw new ResponseError(RpcErrorCode.Conflict, 'this session is already authenticated');
    const params = parsed(SessionMethods.complete.params, raw);
    if (!handshake?.hello) throw new ResponseError(RpcErrorCode.Unauthenticated, 'out-of-order: no session/init to complete');
    const result = handshake.responder.complete(new Uint8Array(Buffer.from(params.challenge, 'base64')));
    if (!result.ok) {
      refused({ event: 'auth.refused', kind: 'user', reason: result.reason, detail: result.message }, 'user handshake refused');
      throw new ResponseError(RpcErrorCode.Unauthenticated, `${result.reason}: ${result.message}`);
    }
    const user: VaultysId = result.value.initiator;
    const admission = broker.users.enroll(user, handshake.hello, origin);
    if (!admission.ok) {
      refused({ event: 'auth.refused', kind: 'user', did: user.did, reason: 'not-a-user', detail: admission.message }, 'user refused');
      throw new ResponseError(RpcErrorCode.Unauthenticated, admission.message);
    }
    caller = user.did;
    edge?.authenticated();
    audit(log).info('auth.succeeded', { kind: 'user', did: user.did, role: admission.role }, 'user authenticated');
    return { user: broker.users.view(user.did)! };
  });

  const audience = new ProgressAudience(() => caller);
  const table = handlers(broker);
  for (const [name, spec] of Object.entries(Methods) as [MethodName, MethodSpec][]) {
    channel.onRequest(spec.method, (raw: unknown) => {
      if (!caller) throw new ResponseError(RpcErrorCode.Unauthenticated, 'prove your identity first (vaultysclaw/session/init)');
      const role = broker.users.roleOf(caller);
      if (!role || !spec.roles.includes(role)) {
        audit(log).warn('rpc.forbidden', { method: spec.method, did: caller, role: role ?? 'none' }, 'method refused by RBAC');
        throw new ResponseError(RpcErrorCode.Forbidden, `${role ? `role ${role}` : 'a removed user'} may not call ${spec.method}`);
      }
      const params = parsed(spec.params, raw);
      try {
        // Reading an intent is watching it: its progress comes to this session from then on.
        if (name === 'intentsGet') audience.watch((params as { id: string }).id);
        return (table[name] as (p: unknown, c: RpcCaller) => unknown)(params, { did: caller, role });
      } catch (err) {
        if (err instanceof RpcFailure) {
          audit(log).warn('rpc.refused', { method: spec.method, did: caller, code: err.code, detail: err.message }, 'request refused');
          throw new ResponseError(err.code, err.message);
        }
        audit(log).error('rpc.error', { method: spec.method, err: (err as Error).message }, 'request failed');
        const storage = storageFailure(err);
        if (storage) throw new ResponseError(RpcErrorCode.Internal, `the broker cannot write its data: ${storage}; the request failed`);
        throw new ResponseError(RpcErrorCode.Internal, 'internal error; see the broker log');
      }
    });
  }

  // Notifications go to authenticated sessions only. They are sent from inside the event bus, that is from an
  // agent's frame or a timer: a client that went away mid-notification (vscode-jsonrpc throws synchronously on a
  // disposed connection) is worth a debug line and must never fail the agent's frame or reach another session.
  const forward = <K extends keyof typeof Notifications>(key: K, wrap: (v: never) => unknown, wanted: (v: never) => boolean = () => true) =>
    guarded(
      (err) => audit(log).debug('rpc.notify-failed', { err: (err as Error).message }, 'notification not delivered'),
      (value: never) => {
        if (!caller || !broker.users.roleOf(caller) || !wanted(value)) return;
        return channel.sendNotification(Notifications[key].method, wrap(value));
      },
    );
  const subscriptions = [
    ['agentChanged', forward('agentChanged', (agent) => ({ agent }))],
    ['registrationChanged', forward('registrationChanged', (agent) => ({ agent }))],
    ['intentChanged', forward('intentChanged', (intent: IntentView) => ({ intent: summarizeIntent(intent) }))],
    ['userChanged', forward('userChanged', (user) => ({ user }))],
    ['approvalChanged', forward('approvalChanged', (approval: ApprovalView) => ({ approval: summarizeApproval(approval) }))],
    [
      'intentProgress',
      forward(
        'intentProgress',
        ({ intentId, seq, stream, text }: BrokerEvents['intentProgress'][0]) => ({ intentId, seq, stream, text }),
        (progress: BrokerEvents['intentProgress'][0]) => audience.wants(progress),
      ),
    ],
  ] as const;
  for (const [event, listener] of subscriptions) broker.events.on(event, listener as never);
  return () => {
    for (const [event, listener] of subscriptions) broker.events.off(event, listener as never);
  };
}
