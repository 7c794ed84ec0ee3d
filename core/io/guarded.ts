/**
 * The one guard for code that a socket, a timer or a process event calls into. An exception thrown out of
 * such a callback stops the whole process (or, in ws, tears down every connection's event loop turn), so a
 * single hostile peer whose input reaches an unexpected throw would take the control plane down for everyone.
 * Wrapped, the failure is reported to `onError` (which closes that one connection, audits, …) and goes no further.
 * A rejected promise returned by the callback is caught the same way: an async handler cannot leak either.
 */
export function guarded<A extends unknown[]>(onError: (err: unknown) => void, callback: (...args: A) => unknown): (...args: A) => void {
  return (...args: A) => {
    try {
      const result = callback(...args);
      if (isThenable(result)) result.then(undefined, (err: unknown) => report(onError, err));
    } catch (err) {
      report(onError, err);
    }
  };
}

function report(onError: (err: unknown) => void, err: unknown): void {
  try {
    onError(err);
  } catch {
    // The error handler itself failed (e.g. the logger's destination is gone): nothing more can be said safely.
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
