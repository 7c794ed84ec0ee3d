/**
 * Errors that mean "the disk said no" — full, over quota, over the file-size
 * limit, read-only, or not ours to write — from node:fs (errno codes) or
 * better-sqlite3 (SQLITE_* codes). Broker and agent turn them into one clear
 * sentence instead of a bare errno, and fail closed.
 */
const FS_CODES: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  EFBIG: 'a file reached its size limit',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
};

/**
 * The code of an error that says the database server cannot be reached or went away (PostgreSQL stopped,
 * restarting, the network cut): its message names the server, never the URL's password.
 */
export const DATABASE_UNAVAILABLE = 'VC_DATABASE_UNAVAILABLE';

export function storageFailure(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return undefined;
  if (code === DATABASE_UNAVAILABLE) return (err as Error).message;
  if (code in FS_CODES) return `${FS_CODES[code]} (${code})`;
  if (code === 'SQLITE_FULL') return 'the disk is full (SQLITE_FULL)';
  if (/^SQLITE_(IOERR|READONLY|CANTOPEN|PERM)/.test(code)) return `the database cannot be written: ${(err as Error).message} (${code})`;
  return undefined;
}
