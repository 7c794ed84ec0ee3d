import type { Duplex } from 'node:stream';

/**
 * Returns a function to call before each write to `stream`: the first call
 * corks it until the event loop's next check phase, so that whatever is
 * written to it meanwhile (a response and the notifications its change
 * causes, frames for several intents) leaves in one syscall instead of one
 * each. A write waits at most one turn of the loop.
 */
export function writeBatcher(stream: Pick<Duplex, 'cork' | 'uncork'>): () => void {
  let corked = false;
  return () => {
    if (corked) return;
    corked = true;
    stream.cork();
    setImmediate(() => {
      corked = false;
      stream.uncork();
    });
  };
}
