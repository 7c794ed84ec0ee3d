/**
 * An argv pattern against the argv the agent executes (no shell in between, so each element is exactly one
 * argument). A "*" element stands for any number of arguments, zero included, wherever it is; every other element
 * is compared by `same`. A dynamic program over (pattern, argv), O(|pattern| × |argv|), never a regex: a pattern of
 * many "*" against 257 arguments answers in the same bounded time as a short one.
 */
export function argvMatches(pattern: readonly string[], argv: readonly string[], same: (element: string, index: number) => boolean): boolean {
  // row[j]: pattern[0..i) matches argv[0..j)
  let row = new Array<boolean>(argv.length + 1).fill(false);
  row[0] = true;
  for (const element of pattern) {
    const next = new Array<boolean>(argv.length + 1).fill(false);
    if (element === '*') {
      next[0] = row[0]!;
      for (let j = 1; j <= argv.length; j++) next[j] = row[j]! || next[j - 1]!;
    } else {
      for (let j = 1; j <= argv.length; j++) next[j] = row[j - 1]! && same(element, j - 1);
    }
    row = next;
  }
  return row[argv.length]!;
}
