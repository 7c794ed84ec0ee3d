import { readFileSync } from 'node:fs';
import { isLoopback } from '../../core/wire/broker-url';
import { parsePort } from '../config';
import { endpointUrlProblem } from './endpoint-post';

/** Where audit lines are streamed as they are written, besides audit.log (`--audit-*`). */
export type AuditStreamTarget =
  | { kind: 'stdout' }
  /** RFC 5424 over TCP (tcp://, loopback only: a local relay) or TLS (tls://). */
  | { kind: 'syslog'; url: URL; ca?: Buffer }
  /** Batched HTTPS POSTs; `token` is sent as a bearer token. */
  | { kind: 'https'; url: URL; ca?: Buffer; token?: string };

export interface NotifyOptions {
  url: URL;
  /** HMAC-SHA256 key the receiver checks each body's signature with. */
  secret: Buffer;
  format: 'json' | 'slack';
  ca?: Buffer;
}

/** The broker's operations side, all off unless asked for. */
export interface OpsOptions {
  /** Prometheus /metrics and /healthz, /readyz on their own listener. */
  metrics?: { host: string; port: number; tls?: { cert: Buffer; key: Buffer } };
  auditStreams: AuditStreamTarget[];
  /** Every signed checkpoint is appended to this file (on another mount, another host's share). */
  witnessFile?: string;
  notify?: NotifyOptions;
}

/** The `broker start` flags of the operations side, as commander hands them over. */
export interface OpsFlags {
  metrics?: string;
  metricsTlsCert?: string;
  metricsTlsKey?: string;
  metricsAllowPlainRemote?: boolean;
  auditStdout?: boolean;
  auditSyslog?: string;
  auditHttps?: string;
  auditHttpsTokenFile?: string;
  auditCa?: string;
  witness?: string;
  notifyUrl?: string;
  notifySecretFile?: string;
  notifyFormat?: string;
  notifyCa?: string;
}

const readFlagFile = (file: string, flag: string): Buffer => {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
};

const urlOf = (text: string, flag: string): URL => {
  try {
    return new URL(text);
  } catch {
    // Not echoed: it may carry a secret (a webhook URL's path often is one).
    throw new Error(`${flag} is not a URL`);
  }
};

function metricsOption(flags: OpsFlags): OpsOptions['metrics'] {
  if (!flags.metrics) {
    if (flags.metricsTlsCert || flags.metricsTlsKey || flags.metricsAllowPlainRemote) throw new Error('--metrics-tls-cert, --metrics-tls-key and --metrics-allow-plain-remote go with --metrics');
    return undefined;
  }
  const at = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(flags.metrics);
  if (!at) throw new Error(`--metrics takes host:port (e.g. 127.0.0.1:9464), not ${flags.metrics}`);
  const [, hostText = '', portText = ''] = at;
  const host = hostText.replace(/^\[|\]$/g, '');
  if (Boolean(flags.metricsTlsCert) !== Boolean(flags.metricsTlsKey)) throw new Error('--metrics-tls-cert and --metrics-tls-key go together');
  const tls = flags.metricsTlsCert && flags.metricsTlsKey ? { cert: readFlagFile(flags.metricsTlsCert, '--metrics-tls-cert'), key: readFlagFile(flags.metricsTlsKey, '--metrics-tls-key') } : undefined;
  // Metrics say how many agents, who is refused and how often: off the host only over TLS, or when the operator says the network is trusted.
  if (!tls && !isLoopback(host) && !flags.metricsAllowPlainRemote) {
    throw new Error(`--metrics ${flags.metrics} is not a loopback address: give --metrics-tls-cert and --metrics-tls-key, or --metrics-allow-plain-remote if the network itself is trusted`);
  }
  return { host, port: parsePort(portText), ...(tls ? { tls } : {}) };
}

function auditStreams(flags: OpsFlags, stdio: boolean): AuditStreamTarget[] {
  const ca = flags.auditCa ? readFlagFile(flags.auditCa, '--audit-ca') : undefined;
  const streams: AuditStreamTarget[] = [];
  if (flags.auditStdout) {
    if (stdio) throw new Error('--audit-stdout cannot go with --stdio: stdout is the JSON-RPC channel there');
    streams.push({ kind: 'stdout' });
  }
  if (flags.auditSyslog) {
    const url = urlOf(flags.auditSyslog, '--audit-syslog');
    if (url.protocol !== 'tls:' && url.protocol !== 'tcp:') throw new Error('--audit-syslog takes tls://host:port (or tcp://host:port to a relay on this host)');
    if (url.protocol === 'tcp:' && !isLoopback(url.hostname)) throw new Error(`--audit-syslog: refusing plain tcp:// to ${url.hostname}, which is not a loopback address: use tls://`);
    if (!url.port) throw new Error('--audit-syslog needs a port (6514 is syslog over TLS)');
    streams.push({ kind: 'syslog', url, ...(ca ? { ca } : {}) });
  }
  if (flags.auditHttps) {
    const url = urlOf(flags.auditHttps, '--audit-https');
    const problem = endpointUrlProblem(url);
    if (problem) throw new Error(`--audit-https: ${problem}`);
    const token = flags.auditHttpsTokenFile ? readFlagFile(flags.auditHttpsTokenFile, '--audit-https-token-file').toString('utf8').trim() : undefined;
    streams.push({ kind: 'https', url, ...(ca ? { ca } : {}), ...(token ? { token } : {}) });
  } else if (flags.auditHttpsTokenFile) {
    throw new Error('--audit-https-token-file goes with --audit-https');
  }
  if (ca && !streams.some((s) => s.kind !== 'stdout')) throw new Error('--audit-ca goes with --audit-syslog tls:// or --audit-https');
  return streams;
}

function notifyOption(flags: OpsFlags): NotifyOptions | undefined {
  // The URL may come from the environment: on the command line, any user of the host reads it in the process list.
  const urlText = flags.notifyUrl ?? process.env.VAULTYSCLAW_NOTIFY_URL;
  if (!urlText) {
    if (flags.notifySecretFile || flags.notifyFormat || flags.notifyCa) throw new Error('--notify-secret-file, --notify-format and --notify-ca go with --notify-url');
    return undefined;
  }
  const url = urlOf(urlText, '--notify-url');
  const problem = endpointUrlProblem(url);
  if (problem) throw new Error(`--notify-url: ${problem}`);
  if (!flags.notifySecretFile) throw new Error('--notify-url needs --notify-secret-file: the key every notification is signed with (HMAC-SHA256), which the receiver checks');
  const secret = readFlagFile(flags.notifySecretFile, '--notify-secret-file');
  if (secret.toString('utf8').trim().length < 16) throw new Error('--notify-secret-file must hold at least 16 characters of secret');
  const format = flags.notifyFormat ?? 'json';
  if (format !== 'json' && format !== 'slack') throw new Error('--notify-format is json or slack');
  const ca = flags.notifyCa ? readFlagFile(flags.notifyCa, '--notify-ca') : undefined;
  return { url, secret: Buffer.from(secret.toString('utf8').trim(), 'utf8'), format, ...(ca ? { ca } : {}) };
}

/** The operations side's options from `broker start`'s flags: every file read and every URL checked before the broker starts. */
export function opsOptionsFrom(flags: OpsFlags, stdio: boolean): OpsOptions {
  return {
    metrics: metricsOption(flags),
    auditStreams: auditStreams(flags, stdio),
    ...(flags.witness ? { witnessFile: flags.witness } : {}),
    notify: notifyOption(flags),
  };
}
