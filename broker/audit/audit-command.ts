import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parsePin, VaultysId } from '../../core/identity';
import { AUTHORITY_FILE, AuthorityText, authorityFromText } from '../identity/authority-file';
import { CertifiedRotation } from '../identity/rotation';
import { RootAnchor } from './root-anchor';
import { describeReport, TRUNCATION_UNDETECTABLE } from './verify-audit-log';
import { verifyClusterLogs } from './verify-cluster-logs';
import { readWitnesses } from './witness-check';

const pinOption = (flag: string, text: string): string => {
  const did = parsePin(text);
  if (!did) throw new Error(`${flag}: not a DID or fingerprint: ${text}`);
  return did;
};

/**
 * The root's word, from files: a broker-authority.json (the root's id, its
 * current certificate and revocations) or what `broker identity certify`
 * wrote (a certificate and revocations). By default the broker-authority.json
 * next to the log, which is what the broker holds.
 */
function anchorFrom(rootDid: string, logFile: string, files: string[]): RootAnchor {
  const anchor = new RootAnchor(rootDid, Date.now());
  const beside = join(dirname(resolve(logFile)), AUTHORITY_FILE);
  const all = files.length > 0 ? files : existsSync(beside) ? [beside] : [];
  for (const file of all) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`--authority ${file}: ${(err as Error).message}`);
    }
    const authority = AuthorityText.safeParse(raw);
    const signed = CertifiedRotation.safeParse(raw);
    if (authority.success) {
      const a = authorityFromText(authority.data);
      if (!anchor.offerRoot(VaultysId.fromBytes(a.root))) throw new Error(`${file} is the chain of another root than ${rootDid}`);
      anchor.addCertificate(a.certificate);
      a.revocations.forEach((r) => anchor.addRevocation(r));
    } else if (signed.success) {
      const bytes = (t: string) => new Uint8Array(Buffer.from(t, 'base64'));
      const envelope = (e: { payload: string; signature: string }) => ({ payload: bytes(e.payload), signature: bytes(e.signature) });
      if (signed.data.certificate) anchor.addCertificate(envelope(signed.data.certificate));
      signed.data.revocations.forEach((r) => anchor.addRevocation(envelope(r)));
    } else {
      throw new Error(`--authority ${file} is neither a ${AUTHORITY_FILE} nor a file the root signed`);
    }
  }
  return anchor;
}

/**
 * `broker audit verify <file...>`: exit 0 when every log verifies, 1 at the first tampered line (or on any error).
 * Several files are the logs of one cluster's nodes, checked each and together (verify-cluster-logs.ts).
 */
export function addAuditCommands(program: Command): void {
  const audit = program.command('audit').description("the broker's tamper-evident audit log (audit.log in the data directory)");
  audit
    .command('verify <files...>')
    .description("check every line, the hash chain and the signed checkpoints; name the first tampered line. Given every node's audit.log of a cluster, also that each names its own node of one cluster, signed by one broker")
    .option(
      '--broker-did <did>',
      "the DID or fingerprint of the broker id the log started with (`broker identity --no-create`); without it or --root, the id in the file's first checkpoint is trusted",
    )
    .option(
      '--root <did>',
      "anchor the log to the broker's offline root (DID or fingerprint): every hand-over must carry the root's certificate, no checkpoint may be signed by an id after the root revoked it, and the log must end under the id the root currently certifies",
    )
    .option(
      '--authority <file...>',
      `with --root: the root's certificates and revocations (${AUTHORITY_FILE}, or a file "broker identity certify" wrote); default: the ${AUTHORITY_FILE} next to the (first) log`,
    )
    .option('--allow-unprotected-tail', "accept entries after the last checkpoint (a running broker's log); they are reported, not vouched for")
    .option(
      '--witness <file...>',
      "checkpoints kept outside the broker host (the file of broker start --witness, a SIEM export of the log, an agent's broker-audit-head.jsonl): the log must still hold the latest one its signers signed, or it was truncated",
    )
    .option('--json', 'print the report as JSON (one object per log, in an array, when several are given)')
    .action((files: string[], o: { brokerDid?: string; root?: string; authority?: string[]; allowUnprotectedTail?: boolean; witness?: string[]; json?: boolean }) => {
      const brokerDid = o.brokerDid === undefined ? undefined : pinOption('--broker-did', o.brokerDid);
      if (o.authority && o.root === undefined) throw new Error('--authority needs --root');
      const anchor = () => (o.root === undefined ? undefined : anchorFrom(pinOption('--root', o.root), files[0]!, o.authority ?? []));
      const witness = o.witness ? readWitnesses(o.witness) : undefined;
      // An anchor each: what a log's hand-overs prove is learnt as it is walked, and must not carry over to the next log.
      const results = verifyClusterLogs(files, () => ({ brokerDid, anchor: anchor(), allowUnprotectedTail: Boolean(o.allowUnprotectedTail), witness }));
      const truncation = witness ? {} : { truncation: TRUNCATION_UNDETECTABLE };
      const json = results.map(({ file, report }) => ({ file, ...report, ...truncation }));
      if (o.json) process.stdout.write(`${JSON.stringify(json.length === 1 ? json[0] : json)}\n`);
      else for (const { file, report } of results) process.stdout.write(describeReport(file, report));
      process.exitCode = results.every((r) => r.report.ok) ? 0 : 1;
    });
}
