/**
 * Every WebSocket close code the broker and the agent send each other (hub and /rpc), named once. The
 * 4000-4999 range is the application's (RFC 6455 §7.4.2); the agent decides from the code alone whether to
 * come back, so a code never changes meaning, and the reason text beside it is only for logs.
 */
export const CloseCode = {
  /** RFC 6455: the session is over, nothing went wrong (a client closing its own connection). */
  Normal: 1000,
  /** RFC 6455: the broker is shutting down; an agent comes back with the restart backoff. */
  GoingAway: 1001,
  /** RFC 6455: the other side failed on its own; it is not the peer's fault. */
  InternalError: 1011,
  /** A frame that does not decode or match its schema (the reason says which check). */
  BadFrame: 4000,
  /** Authentication refused or lost (bad handshake, impersonation, a pending registration expired): it may retry. */
  AuthRefused: 4001,
  /** The peer did not authenticate within its handshake budget. */
  HandshakeTimeout: 4002,
  /** The agent's registration was rejected or revoked: it must not reconnect. */
  RegistrationEnded: 4003,
  /** Another connection of the same agent took this one's place. */
  Replaced: 4004,
  /** More frames than the rate budget, or than a stranger may send before authenticating. */
  TooManyFrames: 4008,
  /** Its address has no room for another authenticated connection. */
  TooManyConnections: 4009,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];
