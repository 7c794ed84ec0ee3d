// The .vsix under test, packaged once per set of inputs: every UI file of a run installs the same bytes, and
// `vsce package` (≈ 10 s of a loaded machine's two cores) runs again only when something it packs changed.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, run } from '../../support/code-server';
import { ROOT } from '../../support/processes';

/** Keyed by content, so checkouts and runs may share it; a few recent packages are kept, the rest pruned. */
const CACHE = join(tmpdir(), 'vaultysclaw-vsix-cache');
const KEPT = 4;

/**
 * What `vsce package` may put in the .vsix: the files .vscodeignore lets in (`!file` or `!dir/**`), the
 * ignore file itself. A pattern of any other form fails here, so the key can never leave out something packed.
 */
function packedInputs(): string[] {
  const files = ['.vscodeignore'];
  for (const line of readFileSync(join(ROOT, '.vscodeignore'), 'utf8').split('\n').map((l) => l.trim())) {
    if (!line.startsWith('!')) continue;
    const pattern = line.slice(1);
    if (pattern.endsWith('/**') && !pattern.slice(0, -3).includes('*')) {
      const dir = pattern.slice(0, -3);
      if (!existsSync(join(ROOT, dir))) continue;
      for (const f of readdirSync(join(ROOT, dir), { recursive: true }).map(String).sort()) {
        if (statSync(join(ROOT, dir, f)).isFile()) files.push(join(dir, f));
      }
    } else if (!pattern.includes('*')) {
      if (existsSync(join(ROOT, pattern))) files.push(pattern);
    } else {
      throw new Error(`.vscodeignore pattern ${line} is not one test/ui/support/vsix.ts knows how to hash: teach packedInputs() its form`);
    }
  }
  return files;
}

function contentKey(): string {
  const hash = createHash('sha256');
  for (const f of packedInputs()) hash.update(`${f}\0`).update(readFileSync(join(ROOT, f))).update('\0');
  return hash.digest('hex').slice(0, 32);
}

/**
 * The .vsix of dist/ as it is (a dev build, source maps left out by .vscodeignore).
 * `npm run package` is not used: its minified rebuild would rewrite dist/ under the other test files.
 * The package is written under a temporary name and renamed into place, so a reader never sees half a file.
 */
export function cachedVsix(): { vsix: string; packagedMs: number | null } {
  ensureBuilt(['broker.js', 'agent.js', 'extension.js', join('webviews', 'approval.js')], ['core', 'broker', 'agent', 'extension', 'webviews']);
  mkdirSync(CACHE, { recursive: true });
  const cached = join(CACHE, `vaultysclaw-${contentKey()}.vsix`);
  let packagedMs: number | null = null;
  if (existsSync(cached)) {
    const now = new Date();
    utimesSync(cached, now, now);
  } else {
    const started = Date.now();
    const partial = `${cached}.${process.pid}.partial.vsix`;
    try {
      run(process.execPath, [join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', '--no-rewrite-relative-links', '--skip-license', '--allow-missing-repository', '--out', partial], {
        timeoutMs: 120_000,
      });
      renameSync(partial, cached);
    } finally {
      rmSync(partial, { force: true });
    }
    packagedMs = Date.now() - started;
    const old = readdirSync(CACHE).filter((f) => /^vaultysclaw-[0-9a-f]{32}\.vsix$/.test(f)).map((f) => ({ f, t: statSync(join(CACHE, f)).mtimeMs })).sort((a, b) => b.t - a.t);
    for (const { f } of old.slice(KEPT)) rmSync(join(CACHE, f), { force: true });
  }
  return { vsix: cached, packagedMs };
}
