import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ClientOptions } from 'ws';

export interface BrokerTls {
  /** PEM CA bundle the broker's certificate must chain to (instead of the system's). */
  ca?: Buffer;
  /** SHA-256 fingerprint of the broker's own certificate (hex, colons optional): that certificate and no other. */
  pinSha256?: string;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * Why the agent will not use this broker URL, or null. Plain ws:// leaves the
 * hub's traffic readable and its metadata (which agent, when, what it may do)
 * open to anyone on the path: allowed to a loopback address, elsewhere only
 * when the operator says so explicitly.
 */
export function brokerUrlProblem(url: string, allowPlainRemote: boolean): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a URL`;
  }
  if (parsed.protocol === 'wss:') return null;
  if (parsed.protocol !== 'ws:') return `the broker URL must be wss:// (or ws:// to a loopback address), not ${parsed.protocol}//`;
  if (isLoopback(parsed.hostname) || allowPlainRemote) return null;
  return `refusing plain ws:// to ${parsed.hostname}, which is not a loopback address: use wss://, or pass --allow-plain-ws if the network itself is trusted`;
}

export function normalizeFingerprint(text: string): string | null {
  const hex = text.replace(/[:\s]/g, '').toUpperCase();
  return /^[0-9A-F]{64}$/.test(hex) ? hex : null;
}

/** ws client options: a pinned certificate replaces the CA check (it may be self-signed); a CA replaces the system's. */
export function tlsClientOptions(tls: BrokerTls | undefined): ClientOptions {
  if (!tls) return {};
  return { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.pinSha256 && !tls.ca ? { rejectUnauthorized: false } : {}) };
}

/**
 * Checked on the HTTP upgrade, before the WebSocket opens and before the agent
 * sends a byte of its own: the certificate the broker presented must be the pinned one.
 */
export function pinnedCertificateProblem(response: IncomingMessage, pinSha256: string): string | null {
  const socket = response.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== 'function') return 'the connection is not TLS, but a certificate is pinned';
  const presented = socket.getPeerCertificate().fingerprint256;
  const got = presented ? normalizeFingerprint(presented) : null;
  if (got === normalizeFingerprint(pinSha256)) return null;
  return `the broker presented a TLS certificate with SHA-256 ${got ?? '(none)'}, not the pinned ${normalizeFingerprint(pinSha256)}`;
}
