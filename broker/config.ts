import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export const DEFAULT_HUB_PORT = 8080;
export const DEFAULT_HUB_HOST = '127.0.0.1';

export function defaultDataDir(): string {
  return resolve(process.env.VAULTYSCLAW_DATA_DIR ?? join(homedir(), '.vaultysclaw', 'broker'));
}

/** Parses a TCP port given on the command line; commander passes strings. */
export function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port "${text}"`);
  return port;
}
