/**
 * How text a hostile party chose (user and agent names, paths, commands, reasons) is shown to a person who
 * decides on it: the extension's trees, the approval webview and the CLI all go through these functions, so
 * a name cannot hide, reorder or fake what a reviewer reads (issue 13, finding 11).
 */

/**
 * Controls (C0, C1, DEL), format characters (bidi overrides and isolates such as U+202E, zero-width spaces
 * and joiners, U+FEFF), line and paragraph separators and lone surrogates: each is invisible or rearranges
 * the text around it.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;
const INVISIBLE_BUT_LINE_BREAKS = /(?![\n\t])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

const codePoint = (c: string) => `⟨U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`;

/**
 * The text with every invisible or reordering character shown as ⟨U+XXXX⟩. `lineBreaks` keeps line feeds
 * and tabs as they are, for multi-line blocks (a file's content) where they are the layout, not a trick.
 */
export function visibleText(text: string, options: { lineBreaks?: boolean } = {}): string {
  return text.replace(options.lineBreaks ? INVISIBLE_BUT_LINE_BREAKS : INVISIBLE, codePoint);
}

/**
 * A value as pretty JSON for a person (the CLI's output, a document in the editor): the same JSON (it parses
 * back to the same value), with every invisible or reordering character written as a \u escape, so a name
 * with U+202E cannot reorder what is shown.
 */
export function visibleJson(value: unknown, replacer?: (key: string, value: unknown) => unknown): string {
  // Line feeds outside strings are the layout; inside strings JSON.stringify has escaped them (and C0, lone surrogates) already.
  return JSON.stringify(value, replacer, 2).replace(INVISIBLE_BUT_LINE_BREAKS, (c) =>
    Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
}

/** The first 16 hex digits of a VaultysId's fingerprint (the DID's hex, in groups of four): enough to tell look-alikes apart. */
export function shortFingerprint(did: string): string {
  const hex = did.replace(/^did:vaultys:/, '').toUpperCase();
  return (hex.slice(0, 16).match(/.{1,4}/g) ?? [hex]).join(' ');
}

/**
 * A name as a decision depends on it: made visible, with the short fingerprint of whom it names, so two
 * parties with the same or homoglyph names ("alice" and "аlice" with a Cyrillic a) never read alike.
 */
export function displayName(name: string, did: string): string {
  return `${visibleText(name)} (${shortFingerprint(did)})`;
}

/**
 * What two names must not share to both be in use: compatibility-normalised (NFKC folds full-width and
 * styled letters), without invisible characters, whitespace collapsed, case folded. Cross-script homoglyphs
 * stay distinct here; the fingerprint beside every displayed name is what tells them apart.
 */
export function nameKey(name: string): string {
  return name.normalize('NFKC').replace(INVISIBLE, '').replace(/\s+/gu, ' ').trim().toLowerCase();
}
