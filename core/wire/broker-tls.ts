import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import WebSocket, { type ClientOptions } from 'ws';
import { BUDGETS } from '../budgets';
import { loggableUrl } from './broker-url';
import { MAX_HUB_FRAME_BYTES } from './hub-messages';

export interface BrokerTls {
  /** PEM CA bundle the broker's certificate must chain to (instead of the system's). */
  ca?: Buffer;
  /** SHA-256 fingerprint of the broker's own certificate (hex, colons optional): that certificate and no other. */
  pinSha256?: string;
}

export function normalizeFingerprint(text: string): string | null {
  const hex = text.replace(/[:\s]/g, '').toUpperCase();
  return /^[0-9A-F]{64}$/.test(hex) ? hex : null;
}

/** Why the certificate the peer presented in this TLS session is not the pinned one, or null. */
export function pinnedCertificateProblem(socket: TLSSocket, pinSha256: string): string | null {
  const presented = socket.getPeerCertificate().fingerprint256;
  const got = presented ? normalizeFingerprint(presented) : null;
  if (got === normalizeFingerprint(pinSha256)) return null;
  return `the broker presented a TLS certificate with SHA-256 ${got ?? '(none)'}, not the pinned ${normalizeFingerprint(pinSha256)}`;
}

/** A refusal at the TLS layer: which check failed, for the caller's log (`tls.refused`). */
export class BrokerTlsError extends Error {
  override readonly name = 'BrokerTlsError';
  constructor(
    readonly reason: 'pin-mismatch' | 'untrusted-certificate' | 'unreachable',
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * The TLS session to a wss:// broker, established and checked before anything of ours is written on it: the
 * pin (or the CA, or the system's CAs) decides at the end of the TLS handshake, so a man in the middle with
 * another certificate never receives the upgrade request, its path, its query or any header.
 */
function connectCheckedTls(url: URL, tls: BrokerTls | undefined, timeoutMs: number): Promise<TLSSocket> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const pin = tls?.pinSha256;
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host,
      port: Number(url.port || 443),
      ...(isIP(host) ? {} : { servername: host }),
      ALPNProtocols: ['http/1.1'],
      ...(tls?.ca ? { ca: tls.ca } : {}),
      // A pinned certificate may be self-signed: the pin replaces the CA check, unless a CA is given too.
      rejectUnauthorized: !(pin && !tls?.ca),
    });
    const timer = setTimeout(() => socket.destroy(new BrokerTlsError('unreachable', `the TLS handshake took longer than ${timeoutMs} ms`)), timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const problem = pin ? pinnedCertificateProblem(socket, pin) : null;
      if (!problem) return resolve(socket);
      socket.destroy();
      reject(new BrokerTlsError('pin-mismatch', problem));
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err instanceof BrokerTlsError) return reject(err);
      const untrusted = err.code !== undefined && /CERT|TLS|SIGNATURE|ISSUER|ALTNAME/.test(err.code);
      reject(new BrokerTlsError(untrusted ? 'untrusted-certificate' : 'unreachable', err.message, err.code));
    });
  });
}

/**
 * A client WebSocket to a broker (agent hub or /rpc), not yet open: for wss://, on a TLS session already
 * checked (connectCheckedTls), so the upgrade request only ever goes to the pinned or CA-verified broker.
 * Rejects with a BrokerTlsError when the TLS check fails.
 */
export async function brokerWebSocket(url: string, tls: BrokerTls | undefined, options: ClientOptions = {}, timeoutMs = 15_000): Promise<WebSocket> {
  const parsed = new URL(url);
  const base: ClientOptions = { maxPayload: MAX_HUB_FRAME_BYTES, handshakeTimeout: timeoutMs, ...options };
  if (parsed.protocol !== 'wss:') return new WebSocket(url, base);
  const socket = await connectCheckedTls(parsed, tls, timeoutMs);
  return new WebSocket(url, { ...base, createConnection: () => socket });
}

/**
 * What a user's client takes from its broker in one /rpc message: the largest answer is one intent's detail
 * (BUDGETS.intentDetailBytes, larger than a hub frame) in its JSON-RPC envelope. Less, and reading one large
 * intent would close the user's whole session (1009). The broker is pinned, and what it sends is bounded there.
 */
const MAX_RPC_MESSAGE_BYTES = BUDGETS.intentDetailBytes.limit + 64 * 1024;

/** A client WebSocket to a broker's /rpc, open; a refusal says which check failed. */
export async function openBrokerWebSocket(url: string, tls: BrokerTls | undefined, timeoutMs = 15_000): Promise<WebSocket> {
  let socket: WebSocket;
  try {
    socket = await brokerWebSocket(url, tls, { maxPayload: MAX_RPC_MESSAGE_BYTES }, timeoutMs);
  } catch (err) {
    if (err instanceof BrokerTlsError && err.reason === 'pin-mismatch') throw err;
    const message = `cannot reach the broker at ${loggableUrl(url)}: ${(err as Error).message}`;
    // The reason stays with the error: a client tells a certificate that will never verify from an outage by it.
    throw err instanceof BrokerTlsError ? new BrokerTlsError(err.reason, message, err.code) : new Error(message);
  }
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', (err) => reject(new Error(`cannot reach the broker at ${loggableUrl(url)}: ${err.message}`)));
  });
  return socket;
}
