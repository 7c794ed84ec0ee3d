import { isIP } from 'node:net';

/** localhost, ::1 or 127.0.0.0/8: traffic that never leaves the host. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * Why an agent or a user will not reach the broker at this URL, or null. Plain
 * ws:// leaves the traffic readable and its metadata (who, when, what they may
 * do) open to anyone on the path: allowed to a loopback address, elsewhere only
 * when the operator says so explicitly (`howToAllow` names the flag or setting).
 */
export function brokerUrlProblem(url: string, allowPlainRemote: boolean, howToAllow: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not echoed: a malformed URL may still carry a password.
    return 'the broker URL is not a URL';
  }
  // ws would send them as Basic auth in the upgrade request, to whoever answers: identities prove who we are, not URLs.
  if (parsed.username || parsed.password) return 'the broker URL must not carry a user name or password (user:password@host); remove them';
  if (parsed.protocol === 'wss:') return null;
  if (parsed.protocol !== 'ws:') return `the broker URL must be wss:// (or ws:// to a loopback address), not ${parsed.protocol}//`;
  if (isLoopback(parsed.hostname) || allowPlainRemote) return null;
  return `refusing plain ws:// to ${parsed.hostname}, which is not a loopback address: use wss://, or ${howToAllow} if the network itself is trusted`;
}

/**
 * The hub URLs of a repeatable flag whose every value may itself be a comma-separated list (`--broker-url a,b
 * --broker-url c`): every node of a cluster, in the order given, blanks dropped.
 */
export function brokerUrlList(values: readonly string[]): string[] {
  return values.flatMap((value) => value.split(',')).map((url) => url.trim()).filter(Boolean);
}

/** The host and TCP port a hub URL reaches (its scheme's default port when it names none). */
export function brokerEndpoint(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || (parsed.protocol === 'wss:' ? 443 : 80)) };
}

/** A broker URL as it may appear in a log line or an error: without user name or password, whatever it holds. */
export function loggableUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(not a URL)';
  }
}

/** The broker's JSON-RPC endpoint: /rpc appended to the hub URL's path (never after its query), once. */
export function rpcUrl(hubUrl: string): string {
  const parsed = new URL(hubUrl.trim());
  const path = parsed.pathname.replace(/\/+$/, '');
  parsed.pathname = path.endsWith('/rpc') ? path : `${path}/rpc`;
  return parsed.toString();
}
