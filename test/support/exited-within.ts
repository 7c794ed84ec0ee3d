import type { ChildProcess } from 'node:child_process';

/** Whether a server process the tests started has exited within `timeoutMs` (false: the caller escalates, e.g. to SIGKILL). */
export function exitedWithin(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
