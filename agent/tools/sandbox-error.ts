/** Why the sandbox refused a path. Distinct codes so the agent can report the exact reason (path-escape is audited). */
export type SandboxErrorCode =
  | 'path-escape'
  | 'invalid-path'
  | 'not-found'
  | 'not-a-directory'
  | 'is-a-directory'
  | 'not-a-file'
  | 'symlink-loop'
  | 'invalid-root'
  /** The path reaches the agent's own state directory (its key, its pin), whatever the layout. */
  | 'agent-state'
  /** A regular file with more than one name: the other may lie outside the workspace. */
  | 'hard-link';

export class SandboxError extends Error {
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}

/**
 * A caller-supplied string as it may appear in a message: JSON-quoted so NUL and control
 * characters cannot forge log lines, and shortened so a 4 KiB path cannot fill the result.
 */
export function quoted(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

export function escapeError(rel: string, why = 'leads outside the workspace root'): SandboxError {
  return new SandboxError('path-escape', `${quoted(rel)} ${why}`);
}
