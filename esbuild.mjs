// Builds every entry point: the broker and the agent as single runnable Node files,
// the extension as CommonJS with `vscode` external, the webviews as browser bundles.
// `node esbuild.mjs --watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/** Native modules stay outside the bundle and are loaded from node_modules at run time. */
const nodeExternals = ['better-sqlite3', 'bufferutil', 'utf-8-validate'];

const common = {
  bundle: true,
  sourcemap: true,
  minify: production,
  logLevel: 'info',
  legalComments: 'none',
};

const targets = [
  {
    ...common,
    // sandbox-bridge runs inside a command's sandbox, in front of it, when its policy allows domains (agent/egress).
    entryPoints: { broker: 'broker/main.ts', agent: 'agent/main.ts', 'sandbox-bridge': 'agent/egress/sandbox-bridge.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: nodeExternals,
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    ...common,
    entryPoints: { extension: 'extension/main.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', ...nodeExternals],
    // jsonc-parser's UMD build (its "main") loads its parts with a require esbuild cannot follow: bundle its ESM build.
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
  },
  {
    // The extension-host test suite (test/extension-host/), loaded by the workbench as extensionTestsPath.
    ...common,
    entryPoints: { 'extension-host-suite': 'test/extension-host/suite.ts' },
    outdir: 'dist/test',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', ...nodeExternals],
  },
  {
    ...common,
    entryPoints: { approval: 'webviews/approval/main.ts' },
    outdir: 'dist/webviews',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  },
  {
    ...common,
    entryPoints: { results: 'webviews/results/main.ts' },
    outdir: 'dist/webviews',
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
  },
].filter((t) => Object.values(t.entryPoints).every((entry) => existsSync(entry)));

/**
 * The rule editor's JSON schema (package.json jsonValidation), generated from the zod PolicyRules schema so the
 * editor and the broker cannot drift: the generator is bundled in memory, run, and its output written to dist/.
 */
async function writeRulesSchema() {
  // From stdin, not as an entry point: the module is imported by tests too (eslint keeps entry points unimported).
  const built = await esbuild.build({
    stdin: { contents: "export { policyRulesJsonSchema } from './extension/rules/rules-schema';", resolveDir: import.meta.dirname, loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'warning',
  });
  const module = { exports: {} };
  new Function('module', 'exports', 'require', built.outputFiles[0].text)(module, module.exports, (await import('node:module')).createRequire(import.meta.url));
  writeAtomically('dist/policy-rules.schema.json', `${JSON.stringify(module.exports.policyRulesJsonSchema(), null, 2)}\n`);
}

/**
 * Each output replaces the old one whole (written beside it, then renamed over it): `npm start` builds while other
 * processes may be starting from dist/ (the test suite runs files side by side), and a reader must get the old file
 * or the new one, never one cut halfway through its writing.
 */
function writeAtomically(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

async function build(target) {
  const result = await esbuild.build({ ...target, write: false });
  for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
}

if (watch) {
  await writeRulesSchema();
  for (const t of targets) await (await esbuild.context(t)).watch();
  console.log('watching for changes…');
} else {
  await Promise.all([...targets.map(build), writeRulesSchema()]);
}
