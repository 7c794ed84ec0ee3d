/** Why an id, secret or key file was refused. Distinct codes so callers can audit the exact reason. */
export type IdentityErrorCode =
  | 'malformed-id'
  | 'malformed-secret'
  | 'unsupported-id'
  | 'unsupported-version'
  | 'key-file-missing'
  | 'key-file-unreadable'
  | 'key-file-malformed'
  | 'key-file-permissions'
  | 'key-file-exists'
  | 'key-file-unwritable'
  | 'weak-agreement-key';

export class IdentityError extends Error {
  constructor(
    readonly code: IdentityErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}
