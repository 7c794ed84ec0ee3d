import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';

/**
 * Creates `dir` (0700) if missing, then refuses it if another user may enter, list or write it: a
 * directory others can traverse exposes any file in it created with looser modes (an older version's
 * database, a copied key), and one others can write lets them swap its files. `what` names it for the operator.
 */
export function ensurePrivateDirectory(dir: string, what: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const problem = sharedDirectoryProblem(dir, what);
  if (problem) throw new Error(problem);
}

/** The refusal for an existing directory others can reach, with the command that fixes it; null if private. */
export function sharedDirectoryProblem(dir: string, what: string): string | null {
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return null;
  return `the ${what} ${dir} is open to other users (mode ${mode.toString(8)}); run: chmod 700 ${dir}`;
}

/** What SQLite keeps beside a database file in WAL mode (and the rollback journal of a crash before WAL was set). */
const SQLITE_COMPANIONS = ['-wal', '-shm', '-journal'];

/**
 * Before SQLite opens `path`: creates it 0600 if missing, whatever the umask, so the -wal and -shm SQLite
 * later creates with the database's mode are 0600 too; and tightens to 0600 the files an earlier version
 * left readable by others (the database holds every intent's parameters and output).
 */
export function makeDatabaseFilesPrivate(path: string): void {
  const fd = openSync(path, 'a', 0o600);
  closeSync(fd);
  chmodSync(path, 0o600);
  for (const suffix of SQLITE_COMPANIONS) {
    try {
      chmodSync(`${path}${suffix}`, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
