import type { Role } from '../../core/rpc/roles';
import type { BrokerSession } from './broker-session';

/** A live, authenticated connection to a broker, as a connector hands it over. */
export interface Connected {
  session: BrokerSession;
  /** Where it goes: "local broker (pid 123)" or the team broker URL. */
  label: string;
  /** Resolves once, with why, when the connection (or the broker process) is gone. */
  closed: Promise<string>;
  close(): Promise<void>;
  /** The role this user must hold here (owner of the broker the editor started): anything less is reported, never accepted silently. */
  expectedRole?: Role;
}

export type Connector = () => Promise<Connected>;

/** A failure that retrying cannot fix (no Node, a broker proving another key, not a user): reported, not retried. */
export class PermanentConnectError extends Error {
  constructor(
    message: string,
    /** What the person can do about it, for a button. */
    readonly remedy?: 'openSettings' | 'enterInvitation' | 'importKey',
  ) {
    super(message);
    this.name = 'PermanentConnectError';
  }
}

export type BrokerState =
  | { kind: 'stopped' }
  | { kind: 'connecting'; attempt: number }
  | { kind: 'connected'; connection: Connected; since: number }
  /** Lost or never reached; `retryInMs` when a restart is scheduled, none when it gave up. */
  | { kind: 'disconnected'; reason: string; attempt: number; retryInMs: number | null; remedy?: PermanentConnectError['remedy'] };

export interface SupervisorOptions {
  /** Consecutive failures after which it stops retrying and waits for an explicit restart. */
  maxAttempts?: number;
  /** A connection that lived this long resets the backoff: it was a crash, not a crash loop. */
  healthyAfterMs?: number;
  backoff?: (attempt: number) => number;
  now?: () => number;
}

/** 1 s, 2 s, 4 s … capped at 30 s: a broker that crashes at start is not restarted in a tight loop. */
export function backoffDelay(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
}

/**
 * Keeps one connection to the broker: connects, and when it goes away
 * reports it and reconnects with backoff, up to a bound, after which only an
 * explicit restart tries again. Every state change is published, so nothing
 * keeps showing what a dead connection last said.
 */
export class BrokerSupervisor {
  #state: BrokerState = { kind: 'stopped' };
  #listeners = new Set<(state: BrokerState) => void>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #generation = 0;
  #failures = 0;
  readonly #maxAttempts: number;
  readonly #healthyAfterMs: number;
  readonly #backoff: (attempt: number) => number;
  readonly #now: () => number;

  constructor(
    private readonly connector: Connector,
    options: SupervisorOptions = {},
  ) {
    this.#maxAttempts = options.maxAttempts ?? 6;
    this.#healthyAfterMs = options.healthyAfterMs ?? 30_000;
    this.#backoff = options.backoff ?? backoffDelay;
    this.#now = options.now ?? Date.now;
  }

  get state(): BrokerState {
    return this.#state;
  }

  /** The live session, or undefined: callers never get a session of a connection that is gone. */
  get session(): BrokerSession | undefined {
    return this.#state.kind === 'connected' ? this.#state.connection.session : undefined;
  }

  onDidChangeState(listener: (state: BrokerState) => void): { dispose(): void } {
    this.#listeners.add(listener);
    return { dispose: () => this.#listeners.delete(listener) };
  }

  start(): void {
    if (this.#state.kind === 'stopped') void this.#connect(++this.#generation);
  }

  /** Drops the current connection (stopping a broker the extension runs) and connects afresh, backoff reset. */
  async restart(): Promise<void> {
    await this.stop();
    this.#failures = 0;
    void this.#connect(++this.#generation);
  }

  async stop(): Promise<void> {
    this.#generation++;
    clearTimeout(this.#timer);
    const previous = this.#state;
    this.#set({ kind: 'stopped' });
    if (previous.kind === 'connected') await previous.connection.close().catch(() => undefined);
  }

  /** Resolves with the session once connected, or rejects if the supervisor gives up or stops first. */
  whenConnected(timeoutMs: number): Promise<BrokerSession> {
    const session = this.session;
    if (session) return Promise.resolve(session);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.dispose();
        reject(new Error(`the broker did not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      const sub = this.onDidChangeState((state) => {
        if (state.kind === 'connected') {
          clearTimeout(timer);
          sub.dispose();
          resolve(state.connection.session);
        } else if (state.kind === 'stopped' || (state.kind === 'disconnected' && state.retryInMs === null)) {
          clearTimeout(timer);
          sub.dispose();
          reject(new Error(state.kind === 'stopped' ? 'the broker connection was stopped' : state.reason));
        }
      });
    });
  }

  #set(state: BrokerState): void {
    this.#state = state;
    for (const listener of [...this.#listeners]) listener(state);
  }

  async #connect(generation: number): Promise<void> {
    this.#set({ kind: 'connecting', attempt: this.#failures + 1 });
    let connection: Connected;
    try {
      connection = await this.connector();
    } catch (err) {
      if (generation !== this.#generation) return;
      this.#failed(generation, err instanceof Error ? err.message : String(err), err instanceof PermanentConnectError ? err : undefined);
      return;
    }
    if (generation !== this.#generation) {
      // Stopped or restarted while connecting: this connection is nobody's.
      await connection.close().catch(() => undefined);
      return;
    }
    const since = this.#now();
    this.#set({ kind: 'connected', connection, since });
    const reason = await connection.closed;
    if (generation !== this.#generation) return;
    await connection.close().catch(() => undefined);
    if (this.#now() - since >= this.#healthyAfterMs) this.#failures = 0;
    this.#failed(generation, reason);
  }

  #failed(generation: number, reason: string, permanent?: PermanentConnectError): void {
    this.#failures++;
    if (permanent || this.#failures >= this.#maxAttempts) {
      this.#set({
        kind: 'disconnected',
        reason: permanent ? reason : `${reason} (gave up after ${this.#failures} attempts)`,
        attempt: this.#failures,
        retryInMs: null,
        ...(permanent?.remedy ? { remedy: permanent.remedy } : {}),
      });
      return;
    }
    const delay = this.#backoff(this.#failures);
    this.#set({ kind: 'disconnected', reason, attempt: this.#failures, retryInMs: delay });
    this.#timer = setTimeout(() => {
      if (generation === this.#generation) void this.#connect(generation);
    }, delay);
  }
}
