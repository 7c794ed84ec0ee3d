// package.json is the extension's UI map: every command the code registers is contributed (with the
// category, an icon, and a when-clause wherever it appears), every menu and view names something that
// exists, activation is on views and commands only, and the package keeps what the broker needs to run.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT } from '../support/processes';

interface Command { command: string; title: string; category?: string; icon?: string }
interface MenuItem { command: string; when?: string; group?: string }
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  main: string;
  engines: { vscode: string };
  activationEvents: string[];
  devDependencies: Record<string, string>;
  contributes: {
    commands: Command[];
    menus: Record<string, MenuItem[]>;
    views: Record<string, { id: string }[]>;
    viewsContainers: { activitybar: { id: string; icon: string }[] };
    viewsWelcome: { view: string; contents: string }[];
    configuration: { properties: Record<string, { scope?: string }> };
    walkthroughs: { steps: { media: { markdown?: string } }[] }[];
  };
};

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(dir, f), 'utf8'));
}

const code = sources(join(ROOT, 'extension')).join('\n');
const registered = new Set([...code.matchAll(/command\(services, '(vaultysclaw\.[A-Za-z]+)'/g)].map((m) => m[1]!));
for (const m of code.matchAll(/(OPEN_APPROVAL_COMMAND|SHOW_INTENT_COMMAND) = '(vaultysclaw\.[A-Za-z]+)'/g)) registered.add(m[2]!);
const contributed = new Map(pkg.contributes.commands.map((c) => [c.command, c]));

describe('package.json contributes', () => {
  test('every registered command is contributed, and every contributed one is registered', () => {
    assert.ok(registered.size >= 18, `found ${registered.size} registered commands`);
    assert.deepEqual([...registered].filter((c) => !contributed.has(c)), []);
    assert.deepEqual([...contributed.keys()].filter((c) => !registered.has(c)), []);
  });

  test('commands have the VaultysClaw category and a codicon; menus name contributed commands with when-clauses', () => {
    for (const c of contributed.values()) {
      assert.equal(c.category, 'VaultysClaw', c.command);
      assert.match(c.icon ?? '', /^\$\([a-z-]+\)$/, c.command);
    }
    for (const [menu, items] of Object.entries(pkg.contributes.menus)) {
      for (const item of items) {
        assert.ok(contributed.has(item.command), `${menu}: ${item.command}`);
        assert.ok(item.when, `${menu}: ${item.command} has a when-clause`);
      }
    }
    const inline = pkg.contributes.menus['view/item/context']!.filter((i) => i.command === 'vaultysclaw.approveRegistration');
    assert.ok(inline.every((i) => /viewItem =~ \/\^agent\\\.\(pending\)\$\//.test(i.when!)), 'approve shows on pending agents only');
  });

  test('the context values the trees set are the ones the menus read', () => {
    const menuText = JSON.stringify(pkg.contributes.menus);
    for (const value of ['pending', 'online', 'offline', 'revoked', 'rejected']) assert.ok(menuText.includes(value), value);
    assert.ok(menuText.includes('approval.pending'));
    assert.match(code, /contextValue: 'approval\.pending'/);
    assert.match(code, /`agent\.\$\{agentGroup\(agent\)\}`/);
  });

  test('one activity bar container with the three views the code creates, activated on them, on commands and on its language model tools only', () => {
    assert.deepEqual(pkg.contributes.viewsContainers.activitybar.map((c) => c.id), ['vaultysclaw']);
    assert.ok(existsSync(join(ROOT, pkg.contributes.viewsContainers.activitybar[0]!.icon)));
    const views = pkg.contributes.views.vaultysclaw!.map((v) => v.id);
    assert.deepEqual(views, ['vaultysclaw.agents', 'vaultysclaw.approvals', 'vaultysclaw.activity']);
    for (const v of views) assert.match(code, new RegExp(`createTreeView\\('${v.replace('.', '\\.')}'`));
    assert.ok(!pkg.activationEvents.includes('*') && !pkg.activationEvents.includes('onStartupFinished'));
    // onUri: a vscode://vaultysclaw.vaultysclaw/approval?id=… link from a notification (extension/approval/approval-link-handler.ts).
    assert.ok(pkg.activationEvents.every((e) => /^(on(View|Command|WebviewPanel):vaultysclaw\.|onLanguageModelTool:vaultysclaw_|onUri$)/.test(e)), pkg.activationEvents.join(', '));
    for (const w of pkg.contributes.viewsWelcome) assert.ok(views.includes(w.view));
    assert.equal(pkg.main, './dist/extension.js');
    assert.match(pkg.engines.vscode, /^\^1\.100\./);
  });

  test('settings that choose what runs or which broker to trust cannot be set by a workspace', () => {
    for (const key of ['brokerMode', 'brokerUrl', 'brokerDid', 'nodePath', 'dataDir', 'hubPort']) {
      assert.equal(pkg.contributes.configuration.properties[`vaultysclaw.${key}`]?.scope, 'machine', key);
    }
  });

  // Threat: a cloned repository's .vscode/settings.json turns on full JSON-RPC tracing (issue 13, finding 13):
  // an undeclared setting has no scope, so a workspace may set it, and `<id>.trace.server` made
  // vscode-languageclient write every intent and output into the log. Every setting the code reads is
  // declared with an explicit scope; all are machine-scoped but the display-only ones named here.
  test('every setting the extension reads, vscode-languageclient\'s <id>.trace.server included, is declared with a scope; security-relevant ones machine', () => {
    const read = new Set<string>();
    const sections = [...code.matchAll(/(?:const|let) (\w+) = vscode\.workspace\.getConfiguration\('([\w.]+)'\)/g)];
    assert.equal(sections.length, [...code.matchAll(/getConfiguration\(/g)].length, 'every configuration read is a named section object this test follows');
    for (const [, variable, section] of sections) {
      for (const g of code.matchAll(new RegExp(`\\b${variable}\\.get(?:<[^>]*>)?\\('([\\w.]+)'`, 'g'))) read.add(`${section}.${g[1]}`);
    }
    for (const m of code.matchAll(/affectsConfiguration\('(vaultysclaw\.[\w.]+)'\)/g)) read.add(m[1]!);
    // vscode-languageclient reads `<client id>.trace.server` from the configuration by itself.
    for (const m of code.matchAll(/new LanguageClient\('([\w.-]+)'/g)) read.add(`${m[1]}.trace.server`);
    assert.ok(read.has('vaultysclaw.brokerMode') && read.has('vaultysclaw.trace.server') && read.size >= 12, [...read].join(', '));
    const DISPLAY_ONLY = new Set(['vaultysclaw.stalenessWindow']);
    const declared = pkg.contributes.configuration.properties;
    for (const key of read) {
      const scope = declared[key]?.scope;
      assert.ok(scope, `${key} is read by the extension but not declared with a scope in package.json`);
      if (!DISPLAY_ONLY.has(key)) assert.equal(scope, 'machine', `${key} must be machine-scoped: a workspace must not set it`);
    }
    for (const key of Object.keys(declared)) assert.ok(read.has(key), `${key} is declared but never read`);
  });

  test('the walkthrough media exist and the package keeps them, the bundles and the native SQLite module', () => {
    const ignore = readFileSync(join(ROOT, '.vscodeignore'), 'utf8');
    for (const w of pkg.contributes.walkthroughs) for (const s of w.steps) assert.ok(s.media.markdown && existsSync(join(ROOT, s.media.markdown)), s.media.markdown);
    for (const kept of ['!dist/extension.js', '!dist/broker.js', '!dist/agent.js', '!dist/webviews/approval.js', '!extension/walkthrough/**', '!extension/media/**', '!node_modules/better-sqlite3/build/Release/better_sqlite3.node', '!node_modules/bindings/bindings.js', '!node_modules/file-uri-to-path/index.js']) {
      assert.ok(ignore.includes(kept), kept);
    }
    assert.ok(pkg.devDependencies['@vscode/vsce']);
  });
});
