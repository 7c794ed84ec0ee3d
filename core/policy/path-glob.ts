/**
 * Workspace-relative paths read lexically and matched against a rule's glob (core/wire/policy-rules.ts PathMatch).
 * Both are dynamic programs over segments and characters, O(pattern × path): a glob is never compiled to a regex,
 * so no pattern, however many "*" and "**" it holds, can make one call backtrack for long.
 */

/** A path as segments; `inside` is false when it is absolute or climbs out of the workspace (a/../../x). */
export interface WorkspacePath {
  segments: string[];
  inside: boolean;
}

/**
 * ./a, a//b and a/../b are one path to the file system, so they are one path to the rules too: a rule on
 * .github/** must not be dodged by .github/./x or src/../.github/x. The root is zero segments.
 */
export function normaliseWorkspacePath(path: string): WorkspacePath {
  const segments: string[] = [];
  let inside = !path.startsWith('/');
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) inside = false;
      else segments.pop();
      continue;
    }
    segments.push(segment);
  }
  return { segments, inside };
}

/** The segments as one path again, '.' for the root. */
export const joinSegments = (segments: readonly string[]): string => (segments.length === 0 ? '.' : segments.join('/'));

type Token = { any: true } | { one: true } | { char: string };

/** One segment of a glob: "*" any run of characters, "?" one character (a code point), "\" makes the next one literal. */
function segmentTokens(segment: string, fold: boolean): Token[] {
  const chars = Array.from(fold ? segment.toLowerCase() : segment);
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\' && i + 1 < chars.length) tokens.push({ char: chars[++i]! });
    else if (c === '*') tokens.push({ any: true });
    else if (c === '?') tokens.push({ one: true });
    else tokens.push({ char: c });
  }
  return tokens;
}

/** Whether one segment glob matches one name: the classic wildcard DP, one row at a time. */
function segmentMatches(tokens: readonly Token[], name: readonly string[]): boolean {
  // row[j]: tokens[0..i) match name[0..j)
  let row = new Array<boolean>(name.length + 1).fill(false);
  row[0] = true;
  for (const token of tokens) {
    const next = new Array<boolean>(name.length + 1).fill(false);
    if ('any' in token) {
      next[0] = row[0]!;
      for (let j = 1; j <= name.length; j++) next[j] = row[j]! || next[j - 1]!;
    } else {
      for (let j = 1; j <= name.length; j++) next[j] = row[j - 1]! && ('one' in token || token.char === name[j - 1]);
    }
    row = next;
  }
  return row[name.length]!;
}

/**
 * Whether `glob` matches the path's segments: "**" as a whole segment is zero or more whole segments, any other
 * segment matches exactly one. Dot-files are names like any other (a rule on **\/.env* must catch them).
 * `fold`: compare case-insensitively, for deny rules (a case-insensitive file system opens .ENV for .env).
 */
export function globMatches(glob: string, segments: readonly string[], fold: boolean): boolean {
  // ./ and // in a glob are spelling, as in a path; a ".." segment (refused by the schema) stays literal and so
  // never matches a normalised path.
  const pattern = glob
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .map((s) => (s === '**' ? null : segmentTokens(s, fold)));
  const names = segments.map((s) => Array.from(fold ? s.toLowerCase() : s));
  // Each (pattern segment, name) pair is compared at most once, so the whole match costs O(|glob| × |path|).
  let row = new Array<boolean>(names.length + 1).fill(false);
  row[0] = true;
  for (let i = 0; i < pattern.length; i++) {
    const next = new Array<boolean>(names.length + 1).fill(false);
    if (pattern[i] === null) {
      next[0] = row[0]!;
      for (let j = 1; j <= names.length; j++) next[j] = row[j]! || next[j - 1]!;
    } else {
      for (let j = 1; j <= names.length; j++) next[j] = row[j - 1]! && segmentMatches(pattern[i]!, names[j - 1]!);
    }
    row = next;
  }
  return row[names.length]!;
}

/** A path as a glob that matches it alone: its glob characters escaped. */
export const escapeGlob = (path: string): string => path.replace(/[\\*?]/g, (c) => `\\${c}`);
