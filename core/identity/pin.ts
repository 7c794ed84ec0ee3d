import { Did } from '../wire/common';

/**
 * A broker pin given on the command line: its DID, or its fingerprint
 * (the same 40 hex characters, upper case in groups of four; spec §2.6).
 * Returns the DID, or null if the text is neither.
 */
export function parsePin(text: string): string | null {
  const did = Did.safeParse(text.trim());
  if (did.success) return did.data;
  const compact = text.replace(/\s+/g, '');
  if (/^[0-9A-Fa-f]{40}$/.test(compact)) return `did:vaultys:${compact.toLowerCase()}`;
  return null;
}
