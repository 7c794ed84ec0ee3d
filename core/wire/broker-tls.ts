import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import WebSocket, { type ClientOptions } from 'ws';
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

/**
 * A client WebSocket to a broker (agent hub or /rpc), open and with its TLS checked: the CA or the pin
 * of `tls` decides before any byte of ours is sent; a refusal says which check failed.
 */
export async function openBrokerWebSocket(url: string, tls: BrokerTls | undefined, timeoutMs = 15_000): Promise<WebSocket> {
  const socket = new WebSocket(url, { maxPayload: MAX_HUB_FRAME_BYTES, handshakeTimeout: timeoutMs, ...tlsClientOptions(tls) });
  let refused: string | null = null;
  const pin = tls?.pinSha256;
  if (pin) {
    socket.on('upgrade', (response) => {
      refused = pinnedCertificateProblem(response, pin);
      // Still CONNECTING: ws never opens the socket, so nothing of ours is sent.
      if (refused) socket.terminate();
    });
  }
  await new Promise<void>((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', (err) => reject(new Error(refused ?? `cannot reach the broker at ${url}: ${err.message}`)));
  });
  return socket;
}
