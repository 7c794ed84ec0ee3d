/**
 * A broker pin given on the command line: its DID, or its fingerprint
 * (the same 40 hex characters, upper case in groups of four; spec §2.6).
 * Returns the DID, or null if the text is neither.
 */
export function parsePin(text: string): string | null {
  const did = /^did:vaultys:([0-9a-f]{40})$/.exec(text.trim());
  if (did) return `did:vaultys:${did[1]}`;
  const compact = text.replace(/\s+/g, '');
  if (/^[0-9A-Fa-f]{40}$/.test(compact)) return `did:vaultys:${compact.toLowerCase()}`;
  return null;
}
