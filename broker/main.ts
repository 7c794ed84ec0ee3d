import { Command, Option } from 'commander';
import { positiveIntegerOption as count, secondsOption as seconds } from '../core/cli/arguments';
import { BUDGETS } from '../core/budgets';
import { DEFAULT_ANSWER_MARGIN_MS } from '../core/policy/answer-deadline';
import { DEFAULT_STALENESS_MS } from '../core/policy/intent-gates';
import { resolve } from 'node:path';
import { addAuditCommands } from './audit/audit-command';
import { addOperatorCommands } from './cli/commands';
import { addMcpCommand } from './cli/mcp-command';
import { addIdentityCommands } from './identity/identity-command';
import { DEFAULT_HUB_HOST, DEFAULT_HUB_PORT, defaultDataDir, parsePort } from './config';
import { databaseUrlFrom, type DatabaseFlags } from './cli/database-options';
import { clusterOptionsFrom, type ClusterFlags } from './cli/cluster-options';
import { opsOptionsFrom, type OpsFlags } from './ops/ops-options';
import { runStandalone } from './standalone';
import { runStdio } from './stdio';


const program = new Command()
  .name('broker')
  .description('VaultysClaw broker: the control plane that authenticates agents and routes signed intents')
  .showHelpAfterError()
  // `identity` takes --data-dir and so do its subcommands: each command's options stop at its subcommand.
  .enablePositionalOptions();

program
  .command('start')
  .description('run the broker for a team: agent hub on WebSocket, state in the data directory')
  .option('--data-dir <dir>', 'data directory (identity, database, logs)', defaultDataDir())
  .option('--host <host>', 'address the agent hub listens on', DEFAULT_HUB_HOST)
  .option('--port <port>', 'agent hub port (0 picks a free one)', parsePort, DEFAULT_HUB_PORT)
  .option('--tls-cert <file>', 'PEM certificate: serve wss:// instead of ws://')
  .option('--tls-key <file>', 'PEM private key for --tls-cert')
  .option('--stdio', 'speak JSON-RPC on stdin/stdout (how the VS Code extension starts the broker)')
  .option('--approval-timeout <seconds>', 'how long a tool call waits for a reviewer (carried in every agent certificate)', '600')
  .option('--handshake-timeout <seconds>', 'how long a new connection (agent or /rpc) may take to authenticate', String(BUDGETS.agentHandshakeMs.limit / 1000))
  .option('--max-unauthenticated <n>', 'sockets that have not authenticated yet, from all addresses', String(BUDGETS.unauthenticatedSockets.limit))
  .option('--max-unauthenticated-per-address <n>', 'sockets that have not authenticated yet, from one address', String(BUDGETS.unauthenticatedSocketsPerAddress.limit))
  .option('--max-pending-registrations <n>', 'agent registrations awaiting a decision, from all addresses', String(BUDGETS.pendingRegistrations.limit))
  .option('--max-pending-per-address <n>', 'agent registrations awaiting a decision, made from one address', String(BUDGETS.pendingRegistrationsPerAddress.limit))
  .option('--refusal-audit-lines <n>', 'refusals of unauthenticated peers audited line by line per interval; the rest are counted into one summary line', String(BUDGETS.refusalAuditLines.limit))
  .option('--allow-root-key', 'run even if the offline root key is in the data directory (it belongs off this host)')
  .option('--lost-agent-grace <seconds>', 'how long a disconnected agent has to come back before its intents in flight end lost-agent', '30')
  .option('--staleness <seconds>', 'how long an intent stays fresh after it is signed (agents refuse it after that)', String(DEFAULT_STALENESS_MS / 1000))
  .option('--answer-margin <seconds>', 'how long past what an intent may take (expiry, reviewer wait, run time) an online agent may answer before it ends lost-agent', String(DEFAULT_ANSWER_MARGIN_MS / 1000))
  .option('--metrics <host:port>', 'serve Prometheus /metrics and /healthz, /readyz on this address (e.g. 127.0.0.1:9464)')
  .option('--metrics-tls-cert <file>', 'PEM certificate: serve the metrics listener over HTTPS (needed off loopback)')
  .option('--metrics-tls-key <file>', 'PEM private key for --metrics-tls-cert')
  .option('--metrics-allow-plain-remote', 'serve metrics over plain HTTP on a non-loopback address (a trusted network only)')
  .option('--audit-stdout', 'also write every audit line to stdout as it is written (not with --stdio)')
  .option('--audit-syslog <url>', 'also send every audit line to syslog, RFC 5424: tls://host:port, or tcp://host:port to a relay on this host')
  .option('--audit-https <url>', 'also POST every audit line, in batches, to this HTTPS collector')
  .option('--audit-https-token-file <file>', 'a file holding the bearer token for --audit-https')
  .option('--audit-ca <file>', 'PEM CA to trust for --audit-syslog tls:// and --audit-https instead of the system CAs')
  .option('--witness <file>', "append every signed audit checkpoint to this file (put it on another mount or host): `broker audit verify --witness` then detects a truncated log")
  .option('--notify-url <url>', 'POST signed notifications (approval requested, decided, expired; registration pending; agent revoked; intent failed) here; or set VAULTYSCLAW_NOTIFY_URL')
  .option('--notify-secret-file <file>', 'a file holding the key each notification body is signed with (HMAC-SHA256)')
  .option('--notify-format <format>', 'json, or slack (a Slack-compatible incoming-webhook payload)')
  .option('--notify-ca <file>', 'PEM CA to trust for --notify-url instead of the system CAs')
  .addOption(new Option('--database <url>', "keep the broker's state in PostgreSQL (postgres://user:password@host:port/db) instead of the data directory's SQLite; prefer the environment variable or --database-url-file, which other users of the host cannot read in the process list").env('VAULTYSCLAW_DATABASE_URL'))
  .option('--database-url-file <file>', 'a file (mode 600) holding the PostgreSQL URL, password included')
  .option('--database-ca <file>', "PEM CA the PostgreSQL server's TLS certificate must chain to (sslmode=verify-full unless the URL says another verifying mode)")
  .addOption(new Option('--nats <urls>', 'run as one node of a cluster: the NATS servers its nodes talk through (nats://host:port or tls://host:port, comma-separated); needs --database').env('VAULTYSCLAW_NATS_URL'))
  .option('--cluster-name <name>', 'the cluster this node belongs to (clusters sharing a NATS server never hear each other)', 'vaultysclaw')
  .option('--node-name <name>', "this node's name in the cluster's audit logs, one per node (default: the host name)")
  .option('--nats-user <user>', 'the NATS user, with --nats-password-file')
  .option('--nats-password-file <file>', "a file (mode 600) holding the NATS user's password")
  .option('--nats-token-file <file>', 'a file (mode 600) holding a NATS token')
  .option('--nats-ca <file>', "PEM CA the NATS server's TLS certificate must chain to (TLS required)")
  .action(async ({ database, databaseUrlFile, databaseCa, nats, clusterName, nodeName, natsUser, natsPasswordFile, natsTokenFile, natsCa, ...o }: DatabaseFlags & ClusterFlags & OpsFlags & { dataDir: string; host: string; port: number; tlsCert?: string; tlsKey?: string; stdio?: boolean; approvalTimeout: string; handshakeTimeout: string; lostAgentGrace: string; staleness: string; answerMargin: string; allowRootKey?: boolean; maxUnauthenticated: string; maxUnauthenticatedPerAddress: string; maxPendingRegistrations: string; maxPendingPerAddress: string; refusalAuditLines: string }) => {
    if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new Error('--tls-cert and --tls-key go together');
    const databaseUrl = databaseUrlFrom({ database, databaseUrlFile, databaseCa });
    const options = {
      ...o,
      dataDir: resolve(o.dataDir),
      approvalTimeoutMs: seconds(o.approvalTimeout, '--approval-timeout'),
      handshakeTimeoutMs: seconds(o.handshakeTimeout, '--handshake-timeout'),
      lostAgentGraceMs: seconds(o.lostAgentGrace, '--lost-agent-grace'),
      stalenessMs: seconds(o.staleness, '--staleness'),
      answerMarginMs: seconds(o.answerMargin, '--answer-margin'),
      connections: {
        unauthenticated: count(o.maxUnauthenticated, '--max-unauthenticated'),
        unauthenticatedPerAddress: count(o.maxUnauthenticatedPerAddress, '--max-unauthenticated-per-address'),
      },
      refusalAudit: { linesPerInterval: count(o.refusalAuditLines, '--refusal-audit-lines') },
      pendingLimits: {
        total: count(o.maxPendingRegistrations, '--max-pending-registrations'),
        perAddress: count(o.maxPendingPerAddress, '--max-pending-per-address'),
      },
      ops: opsOptionsFrom(o, Boolean(o.stdio)),
      databaseUrl,
      cluster: clusterOptionsFrom({ nats, clusterName, nodeName, natsUser, natsPasswordFile, natsTokenFile, natsCa }, databaseUrl),
    };
    await (o.stdio ? runStdio(options) : runStandalone(options));
  });

addIdentityCommands(program);
addOperatorCommands(program);
addAuditCommands(program);
addMcpCommand(program);

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`broker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
