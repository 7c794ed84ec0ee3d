import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';

/**
 * One writer per audit.log. Two processes appending to one file would both
 * resume from the same head and fork the chain, and the verifier would then
 * report honest lines as deleted or reordered. So the writer holds
 * <audit.log>.lock (created O_EXCL) naming its pid and boot; a lock whose
 * process is gone (a crash, a reboot) is stale and taken over.
 */
export class AuditLogLockedError extends Error {
  override readonly name = 'AuditLogLockedError';
}

interface LockOwner {
  pid: number;
  boot: string;
}

function currentBoot(): string {
  try {
    // Linux: a pid from before a reboot may belong to an unrelated process now.
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

function isAlive(owner: LockOwner): boolean {
  if (owner.boot !== currentBoot()) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockOwner>;
    return typeof value.pid === 'number' && typeof value.boot === 'string' ? { pid: value.pid, boot: value.boot } : null;
  } catch {
    return null;
  }
}

export class WriterLock {
  #held = true;
  private constructor(readonly path: string) {}

  static acquire(logPath: string): WriterLock {
    const path = `${logPath}.lock`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        try {
          writeSync(fd, JSON.stringify({ pid: process.pid, boot: currentBoot() } satisfies LockOwner));
        } finally {
          closeSync(fd);
        }
        return new WriterLock(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = readOwner(path);
      if (owner && isAlive(owner)) {
        throw new AuditLogLockedError(
          `${logPath} is being written by process ${owner.pid}${owner.pid === process.pid ? ' (this one)' : ''}: ` +
            'one broker per data directory. If no broker is running, remove the lock file.',
        );
      }
      // Stale (or unreadable, e.g. torn by a crash): move it aside atomically and try again.
      try {
        renameSync(path, `${path}.stale-${process.pid}`);
        rmSync(`${path}.stale-${process.pid}`, { force: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    throw new AuditLogLockedError(`could not take ${path}: other processes keep taking it`);
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    rmSync(this.path, { force: true });
  }
}
