import { verifyAuditLog, type AuditLogReport, type TamperReason, type VerifyOptions } from './verify-audit-log';

export interface ClusterLogReport {
  file: string;
  report: AuditLogReport;
}

/**
 * `broker audit verify` over every node's log of one cluster (issue 20). Each log is verified on its own (chain,
 * checkpoints, anchoring); then together, because every node signs as the same broker id and a single log's
 * verification cannot tell one node's log from another's:
 * - each names its node in its signed checkpoints, and no two name the same one (else one of them stands in for
 *   a log that is not there: a node's real log withheld, another's copied in its place);
 * - all name the cluster the first log names;
 * - all are signed by one broker: the ids each log's checkpoints were signed by (its first signer and the
 *   successors its certified hand-overs name) link every log to the others (a node that joined after a rotation
 *   starts under the new id, which an older node's log names in its hand-over).
 * The first refusal fails the log it is in, at the line of the checkpoint that names the node or the first signer.
 */
export function verifyClusterLogs(files: readonly string[], options: () => VerifyOptions = () => ({})): ClusterLogReport[] {
  const results = files.map((file) => ({ file, report: verifyAuditLog(file, options()) }));
  if (results.length < 2 || results.some((r) => !r.report.ok)) return results;
  const refuse = (at: ClusterLogReport, line: number, reason: TamperReason, detail: string) => {
    at.report.ok = false;
    at.report.failure = { line, seq: null, reason, detail };
    return results;
  };
  const claimed = new Map<string, ClusterLogReport>();
  const cluster = results[0]!.report.node?.cluster;
  for (const result of results) {
    const { node } = result.report;
    if (!node) return refuse(result, result.report.firstCheckpoint?.line ?? 1, 'unnamed node', 'no checkpoint names a cluster node: among several logs of a cluster, it cannot be told whose it is');
    const other = claimed.get(node.name);
    if (other) return refuse(result, node.line, 'duplicate node', `it names node ${node.name}, as ${other.file} does (line ${other.report.node!.line}): one of them is not that node's log`);
    claimed.set(node.name, result);
    if (node.cluster !== cluster) return refuse(result, node.line, 'another cluster', `it names cluster ${node.cluster}, ${results[0]!.file} names cluster ${cluster}`);
  }
  const unlinked = unlinkedLog(results);
  if (unlinked) {
    const first = unlinked.report.firstCheckpoint!;
    return refuse(unlinked, first.line, 'another broker', `signed by ${signersOf(unlinked.report).join(', ')}, an id no other log given shares: not this cluster's broker`);
  }
  return results;
}

/** The ids a verified log's checkpoints were signed by: its first signer, then each certified successor. */
function signersOf(report: AuditLogReport): string[] {
  return [report.firstCheckpoint?.did ?? report.brokerDid ?? '', ...report.rotations.map((r) => r.to)];
}

/** The first log whose signers are not linked, through shared ids, to the first log's: another broker's log. */
function unlinkedLog(results: ClusterLogReport[]): ClusterLogReport | undefined {
  const linked = new Set(signersOf(results[0]!.report));
  const waiting = results.slice(1);
  // Each pass links at least one more log or stops: at most as many passes as logs.
  for (let grew = true; grew; ) {
    grew = false;
    for (const result of [...waiting]) {
      const ids = signersOf(result.report);
      if (!ids.some((id) => linked.has(id))) continue;
      ids.forEach((id) => linked.add(id));
      waiting.splice(waiting.indexOf(result), 1);
      grew = true;
    }
  }
  return waiting[0];
}
