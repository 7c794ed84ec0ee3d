import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The interop vectors live in ../shared/interop beside the project (on a
 * developer machine and in CI alike). VAULTYSCLAW_INTEROP_DIR overrides it.
 */
export const INTEROP_DIR = resolve(process.env.VAULTYSCLAW_INTEROP_DIR ?? join(__dirname, '..', '..', '..', 'shared', 'interop'));

export function readVectors<T = any>(file: string): T {
  const path = join(INTEROP_DIR, file);
  if (!existsSync(path)) throw new Error(`interop vector file ${path} is missing: the suite cannot run without it`);
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
export const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
