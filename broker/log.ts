import { join } from 'node:path';
import pino from 'pino';
import type { SecretIdentity } from '../core/identity';
import { LOG_REDACTION } from '../core/log/redaction';
import { AUDIT_LOG_FILE, UNVERIFIED_TAIL_EVENT } from './audit/chain';
import { unverifiedTailAt } from './audit/resume-check';
import { ChainedDestination } from './audit/chained-destination';
import { AuditCheckpoints, type CheckpointPolicy } from './audit/checkpoints';
import { nodeOfLog } from './audit/last-checkpoint';
import type { CheckpointNode } from '../core/audit/chain-entry';
import { audit as auditOf } from './audit/audit-log';

const closers = new WeakMap<pino.Logger, () => void>();
const checkpointers = new WeakMap<pino.Logger, AuditCheckpoints>();
const destinations = new WeakMap<pino.Logger, ChainedDestination>();

/**
 * The broker's one logger factory: JSON lines to stderr (stdout is the
 * JSON-RPC channel under --stdio) and to the hash-chained audit.log in the
 * data directory, which the broker's identity checkpoints (broker/audit/).
 */
export function createBrokerLogger(
  dataDir: string,
  identity: SecretIdentity,
  level = process.env.VAULTYSCLAW_LOG_LEVEL ?? 'info',
  checkpointPolicy?: CheckpointPolicy,
  /** The cluster node this broker is (`--node-name`, `--cluster-name`); without it, whatever node the log already names. */
  node?: CheckpointNode,
): pino.Logger {
  const audit = ChainedDestination.open(join(dataDir, AUDIT_LOG_FILE));
  let unverified;
  let logNode: CheckpointNode | undefined;
  try {
    logNode = logNodeFor(audit.path, node);
    unverified = unverifiedTailAt(audit.path, identity.did);
  } catch (err) {
    audit.close();
    throw err;
  }
  const log = pino(
    { level, base: { component: 'broker' }, redact: LOG_REDACTION },
    // Streams filter nothing ('trace'): the logger's level does, and checkpoints log at their own level.
    // multistream writes them in reverse order of this list: stderr first, so a checkpoint that an
    // audit.log write triggers comes after the line it covers on both streams.
    pino.multistream([
      { level: 'trace', stream: audit },
      { level: 'trace', stream: pino.destination({ dest: 2, sync: true }) },
    ]),
  );
  // Fail closed: a broker that can no longer record what it does stops, saying why, rather than act unaudited.
  audit.onFailure((failure) => {
    process.stderr.write(`broker: ${failure.message}; stopping: the broker does not act without its audit log\n`);
    process.exit(70);
  });
  const checkpoints = new AuditCheckpoints(audit, identity, log, checkpointPolicy, logNode);
  if (audit.recoveredTornTail) {
    auditOf(log).warn('audit.recovered', { torn: audit.recoveredTornTail }, 'audit.log ended in a partial line; kept and recorded');
  }
  if (unverified) {
    // Signed at once: the broker's first signature on this log says it does not vouch for what it found unsigned.
    auditOf(log).warn(UNVERIFIED_TAIL_EVENT, { ...unverified }, 'audit.log has entries no checkpoint of this broker covers (a crash, or lines written while it was stopped); recorded as unverified');
    checkpoints.checkpoint('resume');
  } else if (audit.state.nextSeq === 0) {
    // A new log starts signed: a pinned verify refuses a log without any checkpoint (it could be anyone's), and a
    // fresh broker's first lines would otherwise wait up to everyLines/everyMs for one.
    checkpoints.checkpoint('start');
  }
  // The shutdown checkpoint: 'exit' runs after stop() in standalone mode and on process.exit() in stdio mode.
  const close = () => {
    process.removeListener('exit', close);
    try {
      checkpoints.close();
    } catch (err) {
      process.stderr.write(`broker: no shutdown checkpoint in ${audit.path}: ${(err as Error).message}\n`);
    }
    audit.close();
  };
  process.once('exit', close);
  closers.set(log, close);
  checkpointers.set(log, checkpoints);
  destinations.set(log, audit);
  return log;
}

/**
 * The node the checkpoints name: the one given, unless the log already names another (refused: swapping two nodes'
 * data directories, or reusing one under a new name, would leave a log that is two nodes' at once); the log's own
 * when none is given (`broker identity import` writing a stopped node's hand-over).
 */
function logNodeFor(path: string, node: CheckpointNode | undefined): CheckpointNode | undefined {
  const named = nodeOfLog(path);
  if (!node) return named ?? undefined;
  if (named && (named.node !== node.node || named.cluster !== node.cluster)) {
    throw new Error(
      `${path} is the audit log of node ${named.node} of cluster ${named.cluster}, not of node ${node.node} of cluster ${node.cluster}: ` +
        'start this data directory with its own --node-name and --cluster-name, or give the new node a data directory of its own',
    );
  }
  return node;
}

/** A broker rotation: the audit log's checkpoints move to the new key (see AuditCheckpoints.handOver). */
export function handOverAuditSigner(log: pino.Logger, next: SecretIdentity): void {
  checkpointers.get(log)?.handOver(next);
}

/**
 * The chained audit.log under a broker logger: what the operations side reads as lines are written (onAppend:
 * metrics, streams to a SIEM, the checkpoint witness) and checks for readiness. Undefined for another logger.
 */
export function auditDestinationOf(log: pino.Logger): ChainedDestination | undefined {
  return destinations.get(log);
}

/** Writes the shutdown checkpoint and closes audit.log now rather than at process exit. */
export function closeBrokerLogger(log: pino.Logger): void {
  closers.get(log)?.();
  closers.delete(log);
}
