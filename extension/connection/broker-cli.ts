import { execFile } from 'node:child_process';
import { z } from 'zod';
import { isRootDid } from '../../core/authority/broker-pin';
import { BrokerIdentitySummary } from '../../core/wire/authority';

/** How to run the bundled broker CLI: which Node, and where dist/broker.js is. */
export interface BrokerCli {
  nodePath: string;
  brokerScript: string;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one broker subcommand, bounded in time; never throws for a non-zero exit (the caller reads the code). */
export function runBrokerCli(cli: BrokerCli, args: string[], timeoutMs = 30_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(cli.nodePath, [cli.brokerScript, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`could not run ${cli.nodePath} ${cli.brokerScript} ${args[0] ?? ''}: ${err.killed ? 'timed out' : err.message}`));
        return;
      }
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

const firstLine = (text: string) => text.trim().split('\n').pop() ?? '';

export type BrokerIdentity = BrokerIdentitySummary;

/**
 * The DID the extension pins for the broker it starts itself: read from the
 * data directory before the broker runs (created there if there is none), so
 * the handshake proves the broker process is the one holding that key.
 */
export async function readBrokerIdentity(cli: BrokerCli, dataDir: string): Promise<BrokerIdentity> {
  const run = await runBrokerCli(cli, ['identity', '--data-dir', dataDir, '--json']);
  if (run.code !== 0) throw new Error(`broker identity failed: ${firstLine(run.stderr) || `exit ${run.code}`}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(firstLine(run.stdout));
  } catch {
    throw new Error(`broker identity printed no JSON: ${run.stdout.slice(0, 200)}`);
  }
  return BrokerIdentitySummary.parse(parsed);
}

/** The report of `broker audit verify --json` (broker/audit/verify-audit-log.ts), as far as the extension reads it. */
export const AuditReport = z.looseObject({
  file: z.string(),
  ok: z.boolean(),
  lines: z.number(),
  entries: z.number(),
  checkpoints: z.number(),
  brokerDid: z.string().nullable(),
  pinned: z.boolean(),
  unprotectedEntries: z.number(),
  root: z.string().nullable().optional(),
  failure: z.looseObject({ line: z.number(), seq: z.number().nullable(), reason: z.string(), detail: z.string() }).nullable(),
});
export type AuditReport = z.infer<typeof AuditReport>;

/**
 * Verifies against `pin`: a root DID anchors the log to the root (hand-overs certified, the end under the id
 * it certifies now), so a true log stays true after a rotation; a broker DID pins the id the log started
 * with. The log of a running broker always ends in entries no checkpoint covers yet: reported, not refused.
 */
export async function verifyAuditLogFile(cli: BrokerCli, file: string, pin: string): Promise<AuditReport> {
  const pinArgs = isRootDid(pin) ? ['--root', pin] : ['--broker-did', pin];
  const run = await runBrokerCli(cli, ['audit', 'verify', file, ...pinArgs, '--allow-unprotected-tail', '--json'], 120_000);
  // Exit 1 with a report is a verdict (tampered); exit 1 without one is an error.
  const line = firstLine(run.stdout);
  if (!line.startsWith('{')) throw new Error(`audit verify failed: ${firstLine(run.stderr) || `exit ${run.code}`}`);
  return AuditReport.parse(JSON.parse(line));
}

/**
 * Verify Audit Log on the broker the extension runs: anchored to the broker's root when it has one (pinning its
 * current id would call a true log tampered after any rotation); without a root there is no rotation, and the id
 * the session pinned (or the key in the data directory) is the one the log started with.
 */
export async function verifyLocalAuditLog(cli: BrokerCli, dataDir: string, file: string, sessionDid: string | undefined): Promise<AuditReport> {
  const identity = await readBrokerIdentity(cli, dataDir);
  return verifyAuditLogFile(cli, file, identity.root?.did ?? sessionDid ?? identity.did);
}

/** Failures that say the log proves too little rather than that a line was changed (broker/audit/verify-audit-log.ts). */
const NOT_PROVEN = new Set(['unsigned', 'unprotected tail', 'not certified by the root', 'revoked signer']);

/** One sentence a person can act on. */
export function describeAuditVerdict(report: AuditReport): string {
  if (report.ok) {
    const tail = report.unprotectedEntries > 0 ? `; the last ${report.unprotectedEntries} entries are chained but not yet covered by a signed checkpoint` : '';
    const pinned = report.root ? `anchored to root ${report.root}, ending under ${report.brokerDid ?? 'the broker'}` : `pinned to ${report.brokerDid ?? 'the broker'}`;
    return `Audit log verified: ${report.entries} entries, ${report.checkpoints} signed checkpoints, ${pinned}${tail}.`;
  }
  const f = report.failure;
  const verdict = f && NOT_PROVEN.has(f.reason) ? 'NOT VERIFIED' : 'TAMPERED';
  return f ? `Audit log ${verdict} at line ${f.line}${f.seq !== null ? ` (seq ${f.seq})` : ''}: ${f.reason} — ${f.detail}` : 'Audit log did not verify.';
}

/**
 * For a broker the extension runs itself: an invitation made by the host's
 * local operator (operator.key in the same data directory, always an owner).
 * Used only when the extension's own user is not yet a user of that broker,
 * e.g. a data directory that the CLI used first.
 */
export async function inviteOnHost(cli: BrokerCli, dataDir: string, role: 'admin' | 'operator' | 'reviewer' | 'viewer'): Promise<string> {
  const run = await runBrokerCli(cli, ['invite', '--data-dir', dataDir, '--role', role, '--token-only']);
  const token = firstLine(run.stdout);
  if (run.code !== 0 || !/^[A-Za-z0-9_-]{43}$/.test(token)) throw new Error(`broker invite failed: ${firstLine(run.stderr) || `exit ${run.code}`}`);
  return token;
}
