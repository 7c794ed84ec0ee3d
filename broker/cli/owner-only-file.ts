import { readFileSync, statSync } from 'node:fs';

/**
 * The trimmed text of a file holding a secret (a database URL with its password, the cluster bus's password or
 * token), refused when group or others may read it: the secret opens what the broker guards, and a key file others
 * can read is refused the same way. `what` names the file in errors (a flag); the content is never quoted.
 */
export function readOwnerOnlyFile(file: string, what: string): string {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (err) {
    throw new Error(`${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  if ((mode & 0o077) !== 0) throw new Error(`${what} ${file} is accessible by group or others (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it`);
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}
