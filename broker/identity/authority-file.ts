import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { BrokerAuthority } from '../../core/wire/authority';

export const AUTHORITY_FILE = 'broker-authority.json';

const B64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const EnvelopeText = z.strictObject({ payload: B64, signature: B64 });
export const AuthorityText = z.strictObject({ root: B64, certificate: EnvelopeText, revocations: z.array(EnvelopeText) });
export type AuthorityText = z.infer<typeof AuthorityText>;
type EnvelopeText = z.infer<typeof EnvelopeText>;

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));
const text = (b: Uint8Array) => Buffer.from(b).toString('base64');
const envelopeOf = (e: EnvelopeText) => ({ payload: bytes(e.payload), signature: bytes(e.signature) });
export const envelopeText = (e: { payload: Uint8Array; signature: Uint8Array }): EnvelopeText => ({ payload: text(e.payload), signature: text(e.signature) });

export function authorityFromText(raw: AuthorityText): BrokerAuthority {
  return BrokerAuthority.parse({ root: bytes(raw.root), certificate: envelopeOf(raw.certificate), revocations: raw.revocations.map(envelopeOf) });
}

export function authorityToText(a: BrokerAuthority): AuthorityText {
  return { root: text(a.root), certificate: envelopeText(a.certificate), revocations: a.revocations.map(envelopeText) };
}

/**
 * The broker's chain to its offline root, next to broker.key: public data
 * only (the root's id, its certificate of the online id, its revocations).
 * Null when the broker has no root (peers then pin broker.key's DID).
 */
export function readAuthority(dataDir: string): BrokerAuthority | null {
  const file = join(dataDir, AUTHORITY_FILE);
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let parsed: AuthorityText;
  try {
    parsed = AuthorityText.parse(JSON.parse(raw));
  } catch {
    throw new Error(`${file} is malformed; restore it or run "broker identity rotate" again`);
  }
  return authorityFromText(parsed);
}

/** Atomic: a crash leaves the old chain or the new one. */
export function writeAuthority(dataDir: string, authority: BrokerAuthority): void {
  const file = join(dataDir, AUTHORITY_FILE);
  const temp = `${file}.tmp`;
  try {
    writeFileSync(temp, `${JSON.stringify(authorityToText(authority), null, 2)}\n`, { mode: 0o600 });
    renameSync(temp, file);
  } finally {
    rmSync(temp, { force: true });
  }
}
