import type pino from 'pino';
import { guarded } from '../../../core/io/guarded';
import type { OpsPart } from '../../ops/operations';
import type { AuditStreamTarget } from '../../ops/ops-options';
import type { ChainedDestination } from '../chained-destination';
import { AuditLineFeed } from './audit-line-feed';
import { AuditStream } from './audit-stream';
import { HttpsTransport } from './https-transport';
import { StdoutTransport } from './stdout-transport';
import { cursorFileOf, loadCursor } from './stream-cursor';
import type { StreamTransport } from './stream-transport';
import { SyslogTransport } from './syslog-transport';

/** How long stopping waits for queued lines to be delivered: a broker's stop must not hang on a destination. */
export const STREAM_STOP_FLUSH_MS = 2_000;

export interface AuditStreamsContext {
  /** audit.log, whose every appended line is streamed. */
  destination: ChainedDestination;
  /** The broker's logger: where a destination's failing and recovery are audited. */
  log: pino.Logger;
  dataDir: string;
}

function transportFor(target: AuditStreamTarget, deliveryMs: number | undefined): StreamTransport {
  switch (target.kind) {
    case 'stdout':
      return new StdoutTransport(process.stdout, deliveryMs);
    case 'syslog':
      return new SyslogTransport(target, deliveryMs);
    case 'https':
      return new HttpsTransport(target, deliveryMs);
  }
}

/**
 * Streams every audit line to each configured destination (--audit-stdout, --audit-syslog, --audit-https), each
 * from where it stopped last time (its cursor in the data directory). audit.log's onAppend only enqueues: nothing
 * that writes an audit line waits for a destination, and nothing a destination does reaches the writer.
 */
export function startAuditStreams(context: AuditStreamsContext, targets: readonly AuditStreamTarget[], options: { deliveryMs?: number; flushMs?: number } = {}): OpsPart & { streams: AuditStream[] } {
  const streams: AuditStream[] = [];
  const unsubscribes: (() => void)[] = [];
  for (const target of targets) {
    const cursorFile = cursorFileOf(context.dataDir, target);
    const feed = new AuditLineFeed(context.destination, loadCursor(cursorFile));
    const stream = new AuditStream(feed, transportFor(target, options.deliveryMs), cursorFile, context.log);
    // Whatever went wrong while enqueueing, the lines in memory may have a gap now: the file has none.
    unsubscribes.push(context.destination.onAppend(guarded(() => feed.resync(), (entry) => feed.append(entry))));
    streams.push(stream);
    stream.start();
  }
  return {
    streams,
    async stop() {
      for (const unsubscribe of unsubscribes) unsubscribe();
      await Promise.all(streams.map((stream) => stream.stop(options.flushMs ?? STREAM_STOP_FLUSH_MS)));
    },
  };
}
