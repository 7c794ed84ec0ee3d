import type { SecretIdentity } from '../../core/identity';
import { Notifications, RpcErrorCode } from '../../core/rpc/methods';
import { RpcClient, type RpcEndpoint } from '../../core/rpc/rpc-client';
import type { NotificationName, NotificationParams } from '../../core/rpc/rpc-contract';
import { rpcErrorReason } from '../../core/rpc/rpc-error';
import type { Role } from '../../core/rpc/roles';
import type { UserHello } from '../../core/rpc/user-auth';
import { authenticateUser } from '../../core/rpc/user-session';
import type { UserView } from '../../core/rpc/views';

export type { NotificationName, NotificationParams };

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
  const reason = rpcErrorReason(err);
  return reason === 'invitation-needed' || reason === 'invitation-invalid';
}

/**
 * An authenticated session with a broker: the user has proven their VaultysId
 * (Challenger v1, broker pinned to `brokerDid`) before any other request.
 * Calls go through the one typed client (RpcClient); notifications are parsed
 * before any listener sees them.
 */
export class BrokerSession extends RpcClient {
  #self: UserView;
  readonly #listeners = new Map<NotificationName, Set<{ listener: (params: unknown) => void; onInvalid?: (message: string) => void }>>();

  private constructor(
    protected override readonly endpoint: RpcEndpoint,
    readonly brokerDid: string,
    user: UserView,
    /** The role the broker certified at the handshake. */
    readonly grantedRole: Role,
    readonly identity: SecretIdentity,
  ) {
    super(endpoint);
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
