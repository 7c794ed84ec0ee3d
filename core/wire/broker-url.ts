import { isIP } from 'node:net';

function isLoopback(hostname: string): boolean {
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
    return `"${url}" is not a URL`;
  }
  if (parsed.protocol === 'wss:') return null;
  if (parsed.protocol !== 'ws:') return `the broker URL must be wss:// (or ws:// to a loopback address), not ${parsed.protocol}//`;
  if (isLoopback(parsed.hostname) || allowPlainRemote) return null;
  return `refusing plain ws:// to ${parsed.hostname}, which is not a loopback address: use wss://, or ${howToAllow} if the network itself is trusted`;
}
