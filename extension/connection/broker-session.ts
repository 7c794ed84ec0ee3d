import type { z } from 'zod';
import type { SecretIdentity } from '../../core/identity';
import { Methods, Notifications, RpcErrorCode, type MethodName, type ParamsOf, type ResultOf } from '../../core/rpc/methods';
import type { Role } from '../../core/rpc/roles';
import type { UserHello } from '../../core/rpc/user-auth';
import { authenticateUser } from '../../core/rpc/user-session';
import type { UserView } from '../../core/rpc/views';

/**
 * The two things the extension needs from a JSON-RPC channel. A
 * vscode-languageclient LanguageClient (stdio broker) and a vscode-jsonrpc
 * MessageConnection (team broker over WebSocket, tests) both fit, so
 * everything above this line is the same code for both transports.
 */
export interface RpcEndpoint {
  sendRequest(method: string, params: unknown): Promise<unknown>;
  onNotification(method: string, handler: (params: unknown) => void): { dispose(): void };
}

export type NotificationName = keyof typeof Notifications;
export type NotificationParams<K extends NotificationName> = z.infer<(typeof Notifications)[K]['params']>;

/** A JSON-RPC error as the broker sends it: a typed code and a message for people. */
export function rpcErrorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** What to tell a person about a failed call; the wire carries no stack traces, and neither does this. */
export function describeRpcError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  switch (rpcErrorCode(err)) {
    case RpcErrorCode.Forbidden:
      return `not allowed: ${message}`;
    case RpcErrorCode.Unauthenticated:
      return `not authenticated: ${message}`;
    case RpcErrorCode.NotFound:
      return `not found: ${message}`;
    default:
      return message;
  }
}

/** The broker refused the user because they are not (yet) one of its users: an invitation would help. */
export function needsInvitation(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /ask an admin for an invitation|invitation is unknown, used, revoked or expired/.test(message);
}

/**
 * An authenticated session with a broker: the user has proven their VaultysId
 * (Challenger v1, broker pinned to `brokerDid`) before any other request.
 * Calls go through the one method table; params and results are validated on
 * this side too, and notifications are parsed before any listener sees them.
 */
export class BrokerSession {
  #self: UserView;
  readonly #listeners = new Map<NotificationName, Set<{ listener: (params: unknown) => void; onInvalid?: (message: string) => void }>>();

  private constructor(
    private readonly endpoint: RpcEndpoint,
    readonly brokerDid: string,
    user: UserView,
    /** The role the broker certified at the handshake. */
    readonly grantedRole: Role,
    readonly identity: SecretIdentity,
  ) {
    this.#self = { ...user, role: grantedRole };
  }

  static async open(endpoint: RpcEndpoint, identity: SecretIdentity, brokerDid: string, hello: UserHello): Promise<BrokerSession> {
    const { user, grant } = await authenticateUser((method, params) => endpoint.sendRequest(method, params), identity, brokerDid, hello);
    return new BrokerSession(endpoint, brokerDid, user, grant.role, identity);
  }

  /** This user as the broker last described them: at the handshake, then in users/changed. */
  get user(): UserView {
    return this.#self;
  }

  /** The role the broker resolves this user's requests with now (menus and the status bar follow it). */
  get role(): Role {
    return this.#self.role;
  }

  /**
   * Takes the broker's word about this session's user. Returns how they stood before when their role or
   * standing changed, so the caller can tell the person (a demotion is never taken silently).
   */
  noteSelf(view: UserView): UserView | undefined {
    if (view.did !== this.#self.did) return undefined;
    const before = this.#self;
    this.#self = view;
    return before.role !== view.role || before.removed !== view.removed ? before : undefined;
  }

  async call<M extends MethodName>(name: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    const spec = Methods[name];
    // Checked here first, so a mistake in the extension reads as one and never reaches the broker.
    const checked = spec.params.parse(params);
    const raw = await this.endpoint.sendRequest(spec.method, checked);
    return spec.result.parse(raw) as ResultOf<M>;
  }

  /**
   * Listens to one broker notification; a malformed one is reported to `onInvalid`, never handed on. A
   * JSON-RPC connection keeps one handler per method, so the session registers it once and hands each
   * notification to every listener (the model and the watch on this user's own standing both hear users/changed).
   */
  on<K extends NotificationName>(name: K, listener: (params: NotificationParams<K>) => void, onInvalid?: (message: string) => void): { dispose(): void } {
    const entry = { listener: listener as (params: unknown) => void, onInvalid };
    let listeners = this.#listeners.get(name);
    if (!listeners) {
      const spec = Notifications[name];
      const all = new Set<typeof entry>();
      listeners = all;
      this.#listeners.set(name, all);
      this.endpoint.onNotification(spec.method, (raw) => {
        const parsed = spec.params.safeParse(raw);
        for (const l of [...all]) {
          if (parsed.success) l.listener(parsed.data);
          else l.onInvalid?.(`${spec.method}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
        }
      });
    }
    listeners.add(entry);
    return { dispose: () => listeners.delete(entry) };
  }
}
