import type { Command } from 'commander';
import { parsePin } from '../../core/identity';
import { describeReport, verifyAuditLog } from './verify-audit-log';

/** `broker audit verify <file>`: exit 0 when the log verifies, 1 at the first tampered line (or on any error). */
export function addAuditCommands(program: Command): void {
  const audit = program.command('audit').description("the broker's tamper-evident audit log (audit.log in the data directory)");
  audit
    .command('verify <file>')
    .description('check every line, the hash chain and the signed checkpoints; name the first tampered line')
    .option(
      '--broker-did <did>',
      "the broker's DID or fingerprint (`broker identity --no-create`); without it, the id in the file's first checkpoint is trusted",
    )
    .option('--json', 'print the report as JSON')
    .action((file: string, o: { brokerDid?: string; json?: boolean }) => {
      let brokerDid: string | undefined;
      if (o.brokerDid !== undefined) {
        brokerDid = parsePin(o.brokerDid) ?? undefined;
        if (!brokerDid) throw new Error(`--broker-did: not a DID or fingerprint: ${o.brokerDid}`);
      }
      const report = verifyAuditLog(file, { brokerDid });
      process.stdout.write(o.json ? `${JSON.stringify({ file, ...report })}\n` : describeReport(file, report));
      process.exitCode = report.ok ? 0 : 1;
    });
}
