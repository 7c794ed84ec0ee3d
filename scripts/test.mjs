// Runs every test/**/*.test.ts with node's own test runner (Node 20 has no glob support for --test).
// Extra arguments filter the files by substring: `npm test -- challenger`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const filters = process.argv.slice(2);
const files = readdirSync(join(root, 'test'), { recursive: true })
  .map((f) => join('test', String(f)))
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ') || 'test/**/*.test.ts'}`);
  process.exit(1);
}
// The real-workbench tests (test/ui/) each hold code-server, an extension host and Chromium (~1.8 GB): they
// run after the others, one file at a time, whatever the machine's core count.
const ui = files.filter((f) => f.startsWith(join('test', 'ui')));
const batches = [
  { files: files.filter((f) => !ui.includes(f)), args: [] },
  { files: ui, args: ['--test-concurrency=1'] },
].filter((b) => b.files.length > 0);
let status = 0;
for (const batch of batches) {
  const run = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-timeout=300000', '--test-reporter=spec', ...batch.args, ...batch.files.map((f) => relative(root, join(root, f)))],
    { cwd: root, stdio: 'inherit' },
  );
  status ||= run.status ?? 1;
}
process.exit(status);
