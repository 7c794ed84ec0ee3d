// The layering the tsconfig projects enforce, said once more at each import, plus the few type-aware rules
// that catch real bugs here (a promise nobody awaits: its rejection escapes a socket or timer callback).
// `npm run lint`; `npm test` runs it.
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const root = import.meta.dirname;

/** A relative import that leaves its folder for one of these top-level folders. */
const into = (folders) => `^(\\.\\./)+(${folders.join('|')})(/|$)`;

// Entry points are esbuild's (esbuild.mjs, read here so a new entry is covered when it is added there) and
// every main.ts: each is started on its own, and importing one runs its side effects in another process.
const esbuildEntries = [...readFileSync(join(root, 'esbuild.mjs'), 'utf8').matchAll(/'([\w./-]+)\.ts'/g)].map((m) => m[1]);
if (esbuildEntries.length === 0) throw new Error('eslint.config.mjs: no entry point found in esbuild.mjs');
const entryNames = [...new Set(['main', ...esbuildEntries.map((entry) => entry.split('/').pop())])];
const noEntryPoint = {
  regex: `^\\.{1,2}/(.*/)?(${entryNames.join('|')})(\\.[jt]s)?$`,
  message: 'An entry point is started on its own, never imported: move what you need out of it.',
};

// The core files a webview may import: the ones webviews/tsconfig.json compiles with DOM and without Node
// types, so `tsc -b` proves that each of them, and everything they import, runs in a browser.
const webviewProject = JSON.parse(readFileSync(join(root, 'webviews', 'tsconfig.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''));
const browserSafeCore = webviewProject.include.filter((pattern) => pattern.startsWith('../core/')).map((pattern) => pattern.slice('../'.length));
const browserSafeCoreRegex = browserSafeCore.map((pattern) => pattern.replace(/\*\*\/\*\.ts$/, '.+').replace(/\.ts$/, '(\\.[jt]s)?'));

const layer = (files, message, patterns) => ({
  files,
  rules: {
    '@typescript-eslint/no-restricted-imports': ['error', { patterns: [...patterns.map((regex) => ({ regex, message })), noEntryPoint] }],
  },
});

export default defineConfig(
  { ignores: ['node_modules/', 'dist/', 'out/', '.tsbuild/', '.code-server/', '.vscode-test/', 'test-output/', '.scratch/'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [noEntryPoint] }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test collects these itself: their promises are the runner's, not a caller's to await.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'suite', 'it', 'test'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  layer(
    ['core/**/*.ts'],
    'core/ is shared by every layer and imports none of them.',
    [into(['broker', 'agent', 'extension', 'webviews', 'test', 'bench', 'scripts'])],
  ),
  layer(
    ['broker/**/*.ts'],
    'The broker shares code with the agent and the extension through core/ only.',
    [into(['agent', 'extension', 'webviews', 'test', 'bench', 'scripts'])],
  ),
  layer(
    ['agent/**/*.ts'],
    'The agent runs on a build machine alone: it shares code with the broker through core/ only.',
    [into(['broker', 'extension', 'webviews', 'test', 'bench', 'scripts'])],
  ),
  layer(
    ['extension/**/*.ts'],
    'The extension talks to the broker over JSON-RPC; what both sides need lives in core/.',
    [into(['broker', 'agent', 'webviews', 'test', 'bench', 'scripts'])],
  ),
  layer(
    ['webviews/**/*.ts'],
    `A webview runs in a browser: no Node built-in, no Node-only package, and from core/ only ${browserSafeCore.join(', ')} (webviews/tsconfig.json).`,
    [
      into(['broker', 'agent', 'extension', 'test', 'bench', 'scripts']),
      `^(\\.\\./)+(?!(${browserSafeCoreRegex.join('|')})$)core/`,
      `^(node:|(${builtinModules.filter((name) => !name.includes('/')).join('|')})(/|$))`,
      '^(ws|pino|better-sqlite3|commander|vscode|vscode-jsonrpc|vscode-languageclient|vscode-languageserver)(/|$)',
    ],
  ),
  // A notification renders [label](command:…) in its message as a link that runs the command, and our messages carry
  // text others wrote (names, paths, refusals, output): the extension notifies through extension/notify.ts, which makes
  // every message link-inert.
  {
    files: ['extension/**/*.ts'],
    ignores: ['extension/notify.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'MemberExpression[property.name=/^show(Information|Warning|Error)Message$/]',
          message: 'Notify through notify.info/warn/error (extension/notify.ts): it makes the message link-inert.',
        },
      ],
    },
  },
  // Every line the broker logs lands in its hash-chained audit.log, which operators alert on by event name and
  // fields: it writes through audit(log) (broker/audit/audit-log.ts), whose names and field types the compiler
  // checks against core/audit/events.ts, never through pino's level methods with a free-form object.
  {
    files: ['broker/**/*.ts'],
    ignores: ['broker/audit/audit-log.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...['callee.object.name', 'callee.object.property.name'].map((logger) => ({
          selector: `CallExpression[callee.property.name=/^(trace|debug|info|warn|error|fatal)$/][${logger}='log']`,
          message: "Write the audit log through audit(log).<level>('event', { fields }, message) (broker/audit/audit-log.ts): the event and its fields are catalogued in core/audit/events.ts.",
        })),
      ],
    },
  },
);
