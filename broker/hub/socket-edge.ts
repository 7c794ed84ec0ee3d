import type pino from 'pino';
import type { WebSocket } from 'ws';
import { guarded } from '../../core/io/guarded';
import { CloseCode } from '../../core/wire/close-codes';
import type { ConnectionCaps, ConnectionSlot } from './connection-caps';
import type { RefusalAudit, RefusalLine } from './refusal-audit';
import { audit } from '../audit/audit-log';

/** What a session (agent or /rpc) is told of the edge of its socket, and tells it back. */
export interface SessionEdge {
  /** Counts a frame; false when it must be dropped (the socket is closing, or sent too much before authenticating). */
  admitFrame(): boolean;
  /** The session proved an id: the socket leaves the strangers' budgets (or is closed when its address has no room). */
  authenticated(): void;
  /** Audits a refusal: in full once authenticated, through the refusal budget before. */
  refused(line: RefusalLine, message: string): void;
  readonly isAuthenticated: boolean;
}

export interface SocketEdgeLimits {
  handshakeMs: number;
  preAuthFrames: number;
}

/**
 * The pre-authentication budget of one WebSocket, the same on the agent path and on /rpc: a stranger has
 * `handshakeMs` and `preAuthFrames` frames to prove an id, and what it is refused is audited within the
 * refusal budget, never a line per frame it chooses to send.
 */
export class SocketEdge implements SessionEdge {
  #authenticated = false;
  #frames = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly socket: WebSocket,
    private readonly slot: ConnectionSlot,
    private readonly caps: ConnectionCaps,
    private readonly refusals: RefusalAudit,
    private readonly log: pino.Logger,
    private readonly limits: SocketEdgeLimits,
  ) {
    this.#timer = setTimeout(
      guarded(
        (err) => this.#failed(err),
        () => {
          if (this.#authenticated) return;
          this.refused({ event: 'auth.timeout', code: 'handshake-timeout' }, 'peer did not authenticate in time');
          socket.close(CloseCode.HandshakeTimeout, 'handshake timeout');
        },
      ),
      limits.handshakeMs,
    );
    socket.once('close', guarded((err) => this.#failed(err), () => clearTimeout(this.#timer)));
  }

  get remote(): string {
    return this.slot.address;
  }

  get isAuthenticated(): boolean {
    return this.#authenticated;
  }

  admitFrame(): boolean {
    if (this.socket.readyState !== this.socket.OPEN) return false;
    if (this.#authenticated || ++this.#frames <= this.limits.preAuthFrames) return true;
    this.refused({ event: 'hub.refused', code: 'too-many-frames' }, `more than ${this.limits.preAuthFrames} frames before authenticating`);
    this.socket.close(CloseCode.TooManyFrames, 'too many frames before authentication');
    return false;
  }

  authenticated(): void {
    if (this.#authenticated) return;
    const promoted = this.caps.promote(this.slot);
    if (!promoted.ok) {
      this.refused({ event: 'hub.refused', code: promoted.reason }, 'too many authenticated connections from this address');
      this.socket.close(CloseCode.TooManyConnections, promoted.reason);
      return;
    }
    this.#authenticated = true;
    clearTimeout(this.#timer);
  }

  refused(line: RefusalLine, message: string): void {
    if (this.#authenticated) audit(this.log).line('warn', line, message);
    else this.budgeted(line, message);
  }

  /** Within the refusal budget whatever this socket's state (FrameSink.budgeted). */
  budgeted(line: RefusalLine, message: string): void {
    this.refusals.refused(this.log, this.slot.address, line, message);
  }

  #failed(err: unknown): void {
    audit(this.log).error('hub.internal-error', { err: (err as Error).message }, 'socket edge failed; connection closed');
    this.socket.terminate();
  }
}
