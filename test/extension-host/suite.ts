// Extension-host integration tests (../shared/design/testing.md, layer 4): this file is built into
// dist/test/extension-host-suite.js and loaded by the workbench as extensionTestsPath, so it runs inside
// the extension host beside the extension, with the real `vscode` API. It acts as a person does — commands
// and settings — and reads what the person sees through the extension's read-only surface (tree rows via
// the real TreeDataProviders, the status bar item), checked against the real broker the extension started
// (its local-operator socket) and a real agent process. Runners: test/ui/extension-host.e2e.test.ts
// (code-server, npm test) and test/extension-host/electron.ts (npm run test:electron).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { BrokerClient } from '../../broker/cli/broker-client';
import { shortFingerprint } from '../../core/text/untrusted-text';
import type { TreeNode } from '../../extension/model/tree-node';
import type { BrokerStateSummary, VaultysClawSurface, ViewSurface } from '../../extension/surface';
import { startAgent, waitFor, type AgentProcess } from '../support/processes';
import { LM_TOOLS } from '../../extension/lm/tool-names';
import { runCases, type Case } from './harness';
import { readRunConfig, USER_NAME, type RunConfig } from './run-config';

const EXTENSION_ID = 'vaultysclaw.vaultysclaw';
const AGENT_NAME = 'host-agent';
const CASE_MS = 120_000;

/** A row as the person reads it: the TreeItem the real provider hands VS Code, label and description. */
interface ShownRow {
  node: TreeNode;
  item: vscode.TreeItem;
  text: string;
  depth: number;
}

async function shown(view: ViewSurface): Promise<ShownRow[]> {
  const rows: ShownRow[] = [];
  const walk = async (parent: TreeNode | undefined, depth: number) => {
    for (const node of (await view.provider.getChildren(parent)) ?? []) {
      const item = await view.provider.getTreeItem(node);
      const label = typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
      rows.push({ node, item, text: `${label}${item.description ? ` — ${String(item.description)}` : ''}`, depth });
      await walk(node, depth + 1);
    }
  };
  await walk(undefined, 0);
  return rows;
}

async function waitForRow(what: string, view: ViewSurface, match: (row: ShownRow) => boolean, timeoutMs = 30_000): Promise<ShownRow> {
  let last: ShownRow[] = [];
  try {
    return await waitFor(what, async () => {
      last = await shown(view);
      return last.find(match);
    }, timeoutMs, 100);
  } catch {
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the view showed:\n${last.map((r) => `${'  '.repeat(r.depth)}${r.text}`).join('\n') || '(nothing)'}\nmessage: ${String(view.view.message)}`);
  }
}

/** The broker the extension runs, reached as its host operator over the owner-only socket in its data directory. */
async function withBroker<T>(config: RunConfig, body: (broker: BrokerClient) => Promise<T>): Promise<T> {
  const broker = await BrokerClient.connect(config.dataDir);
  try {
    return await body(broker);
  } finally {
    broker.close();
  }
}

/** The pid of the broker started on this data directory, found from the process table as anyone could. */
function brokerPid(dataDir: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(join('/proc', entry, 'cmdline'), 'utf8').split('\0');
    } catch {
      continue;
    }
    const at = args.indexOf('--data-dir');
    if (args.includes('start') && args.some((a) => a.endsWith('broker.js')) && at >= 0 && args[at + 1] === dataDir) return Number(entry);
  }
  return undefined;
}

/** The extension's client log, from the workbench's log folder: what it told the person, in order. */
function clientLog(config: RunConfig): string {
  const logs = join(config.userDataDir, 'logs');
  return readdirSync(logs, { recursive: true })
    .map(String)
    .filter((f) => f.includes(EXTENSION_ID) && f.endsWith('VaultysClaw.log'))
    .map((f) => readFileSync(join(logs, f), 'utf8'))
    .join('\n');
}

/** A language model tool's answer as the model reads it: its text parts, joined. */
function resultText(result: vscode.LanguageModelToolResult): string {
  return result.content.map((p) => (p instanceof vscode.LanguageModelTextPart ? p.value : '')).join('');
}

/**
 * The confirmations prepareInvocation asked VS Code to show, as the extension logged them. VS Code 1.100 shows them
 * outside a chat too (a modal dialog), but a workbench running extension tests confirms every dialog itself
 * ("DialogService: refused to show confirmation dialog in tests"), so the log is where the suite reads them.
 */
function confirmationsSoFar(config: RunConfig): { title: string; message: string }[] {
  return [...clientLog(config).matchAll(/language model tool confirmation: (\{.*\})$/gm)].map((m) => JSON.parse(m[1]!) as { title: string; message: string });
}

const settings = () => vscode.workspace.getConfiguration('vaultysclaw');

export async function run(): Promise<void> {
  const config = readRunConfig();
  const agents: AgentProcess[] = [];
  let surface!: VaultysClawSurface;
  let agent!: AgentProcess;
  let ownerDid = '';
  let pausedIntent = '';

  const connected = () => waitFor('the extension to connect to its broker', () => surface.brokerState().kind === 'connected', 90_000, 100);
  const views = () => [surface.views.agents, surface.views.approvals, surface.views.activity];

  const cases: Case[] = [
    {
      name: 'activates on its first command, not before',
      timeoutMs: CASE_MS,
      body: async () => {
        const extension = vscode.extensions.getExtension<VaultysClawSurface>(EXTENSION_ID);
        assert.ok(extension, `${EXTENSION_ID} is loaded from the development path`);
        assert.equal(extension.isActive, false, 'nothing activated it before a view or a command');
        await vscode.commands.executeCommand('vaultysclaw.showLog');
        assert.equal(extension.isActive, true);
        surface = extension.exports;
        assert.ok(surface?.views?.agents?.provider, 'activate() returns the read-only surface');
      },
    },
    {
      name: 'registers every command it contributes, each in the VaultysClaw category',
      timeoutMs: CASE_MS,
      body: async () => {
        const contributed = (vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: { commands: { command: string; category: string }[] } }).contributes.commands;
        assert.ok(contributed.length >= 20);
        const registered = new Set(await vscode.commands.getCommands(true));
        assert.deepEqual(contributed.filter((c) => !registered.has(c.command)).map((c) => c.command), [], 'contributed but not registered');
        assert.deepEqual(contributed.filter((c) => c.category !== 'VaultysClaw').map((c) => c.command), []);
      },
    },
    {
      name: 'creates the user key in SecretStorage on first run, proves it to its broker, and reuses it after a restart',
      timeoutMs: CASE_MS,
      body: async () => {
        await connected();
        assert.match(String(surface.statusBar.tooltip), new RegExp(`connected to local broker as ${USER_NAME} \\(owner\\)`));
        assert.match(surface.statusBar.text, /^\$\(shield\) no agent online$/);
        const firstPid = brokerPid(config.dataDir);
        assert.ok(firstPid, 'the extension started a broker on the configured data directory');
        const before = (await withBroker(config, (b) => b.call('usersList', {}))).items;
        const mine = before.filter((u) => u.name === USER_NAME);
        assert.equal(mine.length, 1);
        assert.equal(mine[0]!.role, 'owner', 'the first user of a new broker is its owner');
        ownerDid = mine[0]!.did;
        await waitFor('the log to record the new key', () => clientLog(config).includes(`created your VaultysClaw user id ${ownerDid} (kept in the editor's secret storage)`), 10_000, 200);

        const states: BrokerStateSummary['kind'][] = [];
        const sub = surface.onDidChangeBrokerState((s) => states.push(s.kind));
        try {
          await vscode.commands.executeCommand('vaultysclaw.restartBroker');
          await connected();
        } finally {
          sub.dispose();
        }
        assert.deepEqual(states.slice(0, 2), ['stopped', 'connecting']);
        assert.equal(states.at(-1), 'connected');
        const secondPid = brokerPid(config.dataDir);
        assert.ok(secondPid && secondPid !== firstPid, `a new broker process (${firstPid} → ${secondPid})`);
        const after = (await withBroker(config, (b) => b.call('usersList', {}))).items;
        assert.deepEqual(after.filter((u) => u.name === USER_NAME).map((u) => u.did), [ownerDid], 'the same key proved again: no second user');
        assert.equal(clientLog(config).match(/created your VaultysClaw user id/g)?.length, 1, 'the key was created once');
      },
    },
    {
      name: 'the Agents, Approvals and Activity views, the badges and the status bar show what the broker holds',
      timeoutMs: CASE_MS,
      body: async () => {
        const info = await withBroker(config, (b) => b.call('brokerInfo', {}));
        writeFileSync(join(config.workspace, 'hello.txt'), 'hello from the host suite\n');
        agent = await startAgent({ brokerUrl: `ws://127.0.0.1:${config.hubPort}`, brokerDid: info.did, workspace: config.workspace, name: AGENT_NAME, request: 'read_file,write_file' });
        agents.push(agent);

        const pending = await waitForRow('the pending registration', surface.views.agents, (r) => r.node.id === agent.did && r.node.contextValue === 'agent.pending');
        // Every agent row carries the agent's short fingerprint, so a look-alike registration is visible.
        assert.equal(pending.text, `${AGENT_NAME} — waiting for approval · online · asks read_file, write_file · ${shortFingerprint(agent.did)}`);
        assert.equal((await shown(surface.views.agents))[0]!.text, 'Pending registration — 1 agent');
        assert.equal(surface.views.agents.view.badge?.value, 1);
        await waitFor('the status bar to count the registration', () => / · 1 registration to review$/.test(surface.statusBar.text));

        await withBroker(config, (b) => b.call('registrationsApprove', { did: agent.did, policy: { capabilities: ['read_file', 'write_file'], approvalRequired: ['write_file'] } }));
        await waitForRow('the agent under Online', surface.views.agents, (r) => r.node.id === agent.did && r.node.contextValue === 'agent.online');
        const details = (await shown(surface.views.agents)).filter((r) => r.depth === 2).map((r) => r.text);
        assert.ok(details.includes('Capabilities — read_file, write_file'), details.join('\n'));
        assert.ok(details.includes('Needs approval — write_file'), details.join('\n'));
        await waitFor('the status bar to count it online', () => /^\$\(shield\) 1 agent online$/.test(surface.statusBar.text));
        assert.equal(surface.views.agents.view.badge, undefined);

        // A read runs through; a write pauses on the agent for a reviewer other than its requester (the host operator).
        const read = await withBroker(config, (b) => b.call('intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path: 'hello.txt' } }));
        await waitForRow('the read in the Activity view', surface.views.activity, (r) => r.node.id === `intent:${read.id}` && /^read_file hello\.txt — succeeded · host-agent/.test(r.text));
        const write = await withBroker(config, (b) => b.call('intentsDispatch', { agent: agent.did, capability: 'write_file', params: { path: 'paused.txt', content: 'not yet\n', mode: 'create' } }));
        pausedIntent = write.id;
        const approval = await waitForRow('the paused write in the Approvals view', surface.views.approvals, (r) => r.node.contextValue === 'approval.pending');
        const operatorDid = (await withBroker(config, (b) => b.call('usersList', {}))).items.find((u) => u.name === 'local operator')!.did;
        assert.equal(approval.text, `write_file paused.txt — local operator (${shortFingerprint(operatorDid)}) · just now · on host-agent (${shortFingerprint(agent.did)})`);
        assert.equal(surface.views.approvals.view.badge?.value, 1);
        await waitFor('the status bar to count the approval', () => /^\$\(shield\) 1 agent online · 1 approval waiting$/.test(surface.statusBar.text));
        const waiting = await waitForRow('the write in the Activity view', surface.views.activity, (r) => r.node.id === `intent:${write.id}`);
        assert.match(waiting.text, new RegExp(`^write_file paused\\.txt — waiting for approval by ${USER_NAME} · host-agent`), 'it says who must act, not "sent"');
        const brokerSide = (await withBroker(config, (b) => b.call('approvalsList', { state: 'pending' }))).items;
        assert.deepEqual(brokerSide.map((a) => a.intentId), [write.id]);

        // Opening the row opens the approval panel, a webview of the extension's own type.
        const row = approval.item.command!;
        await vscode.commands.executeCommand(row.command, ...(row.arguments ?? []));
        const tab = await waitFor('the approval panel tab', () =>
          vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('vaultysclaw.approval')),
        );
        assert.equal(tab.label, 'Approve write_file paused.txt?');
        // Opened again (the row, or a Review notification): the same panel is revealed, never a second one.
        await vscode.commands.executeCommand(row.command, ...(row.arguments ?? []));
        const approvalTabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('vaultysclaw.approval'));
        assert.equal(approvalTabs.length, 1, 'one panel per request');

        // Opening the read shows it in the one result view (issue 17), and the file it read as a read-only document.
        const readRow = (await shown(surface.views.activity)).find((r) => r.node.id === `intent:${read.id}`)!;
        await vscode.commands.executeCommand(readRow.item.command!.command, ...(readRow.item.command!.arguments ?? []));
        await waitFor('the result view of the read', () =>
          vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('vaultysclaw.result') && t.label === 'read_file hello.txt'),
        );
        const content = await waitFor('the read file as a result document', () => vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'vaultysclaw-result' && d.uri.path === `/${read.id}/hello.txt`));
        assert.equal(content.getText(), 'hello from the host suite\n');
        // Verify checks both signatures here, the intent against the pinned broker id; the decoded envelope then says so.
        await vscode.commands.executeCommand('vaultysclaw.verifyResult', read.id);
        await vscode.commands.executeCommand('vaultysclaw.showSignedEnvelope', read.id);
        const doc = await waitFor('the signed envelope document', () => {
          const d = vscode.window.activeTextEditor?.document;
          return d?.uri.scheme === 'vaultysclaw-result' && d.uri.path === `/${read.id}/signed-read_file.json` && d;
        });
        assert.match(doc.getText(), /"intent": "The signed intent holds: signed by did:vaultys:/);
        assert.match(doc.getText(), /"result": "The signed result holds: signed by did:vaultys:/);
        assert.match(doc.getText(), /hello from the host suite/);
      },
    },
    {
      name: 'the staleness window setting relabels an unanswered intent at once, without reconnecting',
      timeoutMs: CASE_MS,
      body: async () => {
        const connectedSince = surface.brokerState();
        // The agent, frozen, holds the intent unanswered: it stays "sent".
        process.kill(agent.child.pid!, 'SIGSTOP');
        let intentId = '';
        try {
          intentId = (await withBroker(config, (b) => b.call('intentsDispatch', { agent: agent.did, capability: 'read_file', params: { path: 'hello.txt' } }))).id;
          const row = await waitForRow('the unanswered read', surface.views.activity, (r) => r.node.id === `intent:${intentId}`);
          assert.match(row.text, /^read_file hello\.txt — sent · host-agent/);
          await new Promise((r) => setTimeout(r, 1200));
          await settings().update('stalenessWindow', 1, vscode.ConfigurationTarget.Global);
          await waitForRow('the read shown as stale', surface.views.activity, (r) => r.node.id === `intent:${intentId}` && /— sent \(stale: past the staleness window\) · host-agent/.test(r.text), 10_000);
          const paused = (await shown(surface.views.activity)).find((r) => r.node.id === `intent:${pausedIntent}`);
          assert.match(paused?.text ?? '', /waiting for approval by/, 'a call paused for a reviewer is held by the agent, never stale');
          await settings().update('stalenessWindow', undefined, vscode.ConfigurationTarget.Global);
          await waitForRow('the read no longer stale', surface.views.activity, (r) => r.node.id === `intent:${intentId}` && /^read_file hello\.txt — sent · host-agent/.test(r.text), 10_000);
        } finally {
          process.kill(agent.child.pid!, 'SIGCONT');
        }
        await waitForRow('the read answered', surface.views.activity, (r) => r.node.id === `intent:${intentId}` && /— succeeded · host-agent/.test(r.text));
        assert.deepEqual(surface.brokerState(), connectedSince, 'a display setting does not reconnect');
      },
    },
    {
      name: 'a broker crash: the views drop what it said at once, and it is restarted after a backoff',
      timeoutMs: CASE_MS,
      body: async () => {
        for (const view of [surface.views.agents, surface.views.approvals]) assert.ok((await shown(view)).length > 0, 'the views show the live broker before the crash');
        const pid = brokerPid(config.dataDir)!;
        const seen: { state: BrokerStateSummary; at: number; rows: number; message: string; status: string }[] = [];
        // Checked synchronously at every state change: nothing a dead broker said is on screen as live.
        const sub = surface.onDidChangeBrokerState((state) => {
          const rows = views().reduce((n, v) => n + ((v.provider.getChildren() as TreeNode[] | undefined)?.length ?? 0), 0);
          seen.push({ state, at: Date.now(), rows, message: String(surface.views.agents.view.message ?? ''), status: surface.statusBar.text });
        });
        try {
          process.kill(pid, 'SIGKILL');
          await waitFor('the extension to notice the crash', () => seen.some((s) => s.state.kind === 'disconnected'), 30_000, 50);
          await connected();
        } finally {
          sub.dispose();
        }
        const down = seen.find((s) => s.state.kind === 'disconnected');
        assert.ok(down && down.state.kind === 'disconnected', `a disconnected state was published (${seen.map((s) => s.state.kind).join(' → ')})`);
        assert.match(down.state.reason, /the local broker stopped/);
        assert.equal(down.state.retryInMs, 1000, 'the first restart waits 1 s');
        assert.match(down.message, /^Disconnected: the local broker stopped/);
        assert.equal(down.status, '$(debug-disconnect) VaultysClaw: disconnected');
        const retry = seen.find((s) => s.state.kind === 'connecting' && s.at >= down.at)!;
        assert.ok(retry.at - down.at >= 900, `reconnected after its backoff, not at once (${retry.at - down.at} ms)`);
        for (const s of seen.filter((x) => x.state.kind !== 'connected')) assert.equal(s.rows, 0, `no rows while ${s.state.kind}`);
        const newPid = brokerPid(config.dataDir);
        assert.ok(newPid && newPid !== pid, `a new broker process (${pid} → ${newPid}): ${readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map((e) => { try { return `${e}:${readFileSync(join('/proc', e, 'cmdline'), 'utf8').replace(/\0/g, ' ')}`; } catch { return ''; } }).filter((l) => l.includes('broker')).join('\n')}`);

        // Back, the views are rebuilt from the new broker: the agent reconnects on its own, and the approvals are the broker's.
        await waitForRow('the agent online again', surface.views.agents, (r) => r.node.id === agent.did && r.node.contextValue === 'agent.online', 60_000);
        const pendingNow = (await withBroker(config, (b) => b.call('approvalsList', { state: 'pending' }))).items;
        const approvalRows = (await shown(surface.views.approvals)).map((r) => r.node.id);
        assert.deepEqual(approvalRows, pendingNow.map((a) => `approval:${a.requestId}`));
        assert.match(String(surface.statusBar.tooltip), new RegExp(`connected to local broker as ${USER_NAME} \\(owner\\)`));
      },
    },
    {
      name: 'with no Node to run the broker: an error that says what to fix, and commands answer instead of throwing',
      timeoutMs: CASE_MS,
      body: async () => {
        const missing = join(config.workspace, 'no-such-node');
        await settings().update('nodePath', missing, vscode.ConfigurationTarget.Global);
        try {
          const down = await waitFor('the extension to give up on a broker it cannot start', () => {
            const s = surface.brokerState();
            return s.kind === 'disconnected' && s.retryInMs === null ? s : undefined;
          }, 30_000, 100);
          assert.equal(down.reason, `vaultysclaw.nodePath points at ${missing}, which is not an executable file. Fix the setting or clear it to use Node from PATH.`);
          assert.match(String(surface.statusBar.tooltip), /Run "VaultysClaw: Restart Broker" to try again/);
          assert.match(String(surface.views.agents.view.message), /^Disconnected: vaultysclaw\.nodePath points at/);
          for (const view of views()) assert.deepEqual(await shown(view), []);
          await waitFor('the old broker to be stopped', () => brokerPid(config.dataDir) === undefined, 10_000, 100);

          for (const [id, what] of [
            ['vaultysclaw.showBrokerIdentity', 'show the broker identity'],
            ['vaultysclaw.dispatchIntent', 'dispatch an intent'],
            ['vaultysclaw.showEnrollmentCommand', 'show the enrollment command'],
            ['vaultysclaw.copyDid', 'list the agents'],
          ] as const) {
            const answered = await Promise.race([vscode.commands.executeCommand(id).then(() => 'answered'), new Promise((r) => setTimeout(() => r('hung'), 10_000))]);
            assert.equal(answered, 'answered', `${id} returns while the broker is down`);
            await waitFor(`${id} to say why and offer a restart`, () => clientLog(config).includes(`cannot ${what}: the broker is not connected (vaultysclaw.nodePath points at ${missing}`), 10_000, 200);
          }
          // The editor's AI gets words it can pass on, not an exception: nothing was sent, and how to connect.
          const offline = resultText(await vscode.lm.invokeTool(LM_TOOLS.listAgents, { input: {}, toolInvocationToken: undefined }));
          assert.match(offline, /^Not sent: VaultysClaw is not connected to a broker \(vaultysclaw\.nodePath points at .*"VaultysClaw: Restart Broker" for the local broker, or "VaultysClaw: Join Team Broker with Invitation" for a team broker/s);
        } finally {
          await settings().update('nodePath', config.nodePath, vscode.ConfigurationTarget.Global);
        }
        await connected();
        await waitForRow('the agent back in the Agents view', surface.views.agents, (r) => r.node.id === agent.did, 60_000);
      },
    },
    {
      name: "the language model tools are registered with their schemas, and listAgents names the online agent, its capabilities and what needs a reviewer",
      timeoutMs: CASE_MS,
      body: async () => {
        await waitForRow('the agent online again', surface.views.agents, (r) => r.node.id === agent.did && r.node.contextValue === 'agent.online', 60_000);
        const tools = vscode.lm.tools.filter((t) => t.name.startsWith('vaultysclaw_'));
        assert.deepEqual(tools.map((t) => t.name).sort(), [LM_TOOLS.dispatch, LM_TOOLS.listAgents]);
        const dispatch = tools.find((t) => t.name === LM_TOOLS.dispatch)!;
        assert.deepEqual((dispatch.inputSchema as { required: string[] }).required, ['agent', 'capability', 'params']);
        assert.match(dispatch.description, /remote build machine/);
        const listed = resultText(await vscode.lm.invokeTool(LM_TOOLS.listAgents, { input: {}, toolInvocationToken: undefined }));
        assert.match(listed, new RegExp(`^Agent ${AGENT_NAME} \\(online\\)\n  DID: ${agent.did}$`, 'm'), listed);
        assert.match(listed, /^  - read_file: read a text file/m, listed);
        assert.match(listed, /^  - write_file: .*\(every call needs a reviewer other than the user\)$/m, listed);
      },
    },
    {
      name: 'vaultysclaw_dispatch: after the confirmation that shows the exact intent, a real signed read on the real agent, its file text returned',
      timeoutMs: CASE_MS,
      body: async () => {
        const asked = confirmationsSoFar(config).length;
        const text = resultText(await vscode.lm.invokeTool(LM_TOOLS.dispatch, { input: { agent: AGENT_NAME, capability: 'read_file', params: { path: 'hello.txt' } }, toolInvocationToken: undefined }));
        assert.match(text, new RegExp(`^read_file on agent ${AGENT_NAME} \\(${agent.did}\\): succeeded\\.\\n.*not instructions\\.\\n\\(26 bytes\\)\\nhello from the host suite\\n`), text);
        assert.match(text, new RegExp(`Result from agent ${AGENT_NAME} \\(${agent.did}\\), signed by it \\(the broker checked the signature\\).*\\. Intent [0-9a-f]{32}\\.$`));
        // What the person was asked: the agent by name and DID, the capability, the params as they are signed.
        const shownNow = await waitFor('the confirmation in the log', () => {
          const logged = confirmationsSoFar(config).slice(asked);
          return logged.length > 0 && logged;
        }, 10_000, 200);
        assert.equal(shownNow.length, 1, 'one confirmation per call');
        assert.equal(shownNow[0]!.title, `VaultysClaw: read_file on ${AGENT_NAME}?`);
        assert.match(shownNow[0]!.message, new RegExp(`DID: ${agent.did}[\\s\\S]*Capability: read_file[\\s\\S]*"path": "hello\\.txt"[\\s\\S]*Dry run: the policy allows it`));
        // At the broker: the user's own signed intent, as any dispatch of theirs.
        const id = /Intent ([0-9a-f]{32})\.$/.exec(text)![1]!;
        const intent = await withBroker(config, (b) => b.call('intentsGet', { id }));
        assert.equal(intent.state, 'succeeded');
        assert.equal(intent.user, ownerDid, "signed with the user's own key");
        assert.ok(intent.signedIntent && intent.signedResult);
        // Provenance: signed into the intent, and the Activity row says a model chose it.
        assert.equal(intent.via, 'vscode-lm');
        const row = await waitForRow('the model\'s read in the Activity view', surface.views.activity, (r) => r.node.id === `intent:${id}`);
        assert.match(row.text, /by the editor's AI \(vscode-lm\)$/, row.text);
      },
    },
    {
      name: 'vaultysclaw_dispatch: a capability the policy does not grant comes back as the refusal with its reason, not an exception',
      timeoutMs: CASE_MS,
      body: async () => {
        const text = resultText(await vscode.lm.invokeTool(LM_TOOLS.dispatch, { input: { agent: agent.did, capability: 'list_files', params: { path: '.' } }, toolInvocationToken: undefined }));
        assert.match(text, /^Refused: list_files on agent .+\. The broker refused to send it: .+ \(capability-not-granted\)\.\nThe agent's signed policy does not grant this capability; ask the user/, text);
        const id = /Intent ([0-9a-f]{32})\.$/.exec(text)![1]!;
        const intent = await withBroker(config, (b) => b.call('intentsGet', { id }));
        assert.deepEqual([intent.state, intent.reason, intent.user], ['rejected', 'capability-not-granted', ownerDid]);
      },
    },
    {
      name: "vaultysclaw_dispatch: cancelling the tool's token while the call waits for a reviewer ends the intent cancelled at the broker",
      timeoutMs: CASE_MS,
      body: async () => {
        const cts = new vscode.CancellationTokenSource();
        const call = Promise.resolve(vscode.lm.invokeTool(LM_TOOLS.dispatch, { input: { agent: AGENT_NAME, capability: 'write_file', params: { path: 'lm-paused.txt', content: 'from the model\n', mode: 'create' } }, toolInvocationToken: undefined }, cts.token)).then(
          (r) => ({ text: resultText(r) }),
          (err: unknown) => ({ error: err }),
        );
        const confirmed = await waitFor('the confirmation of the write', () => confirmationsSoFar(config).find((c) => c.title === `VaultysClaw: write 15 bytes to lm-paused.txt on ${AGENT_NAME}?`), 60_000, 200);
        assert.match(confirmed.message, /"content": "15 bytes \(not shown\)"/, 'the content is counted, never shown');
        assert.doesNotMatch(confirmed.message, /from the model/);
        assert.match(confirmed.message, /Dry run: it will wait for a reviewer other than you/);
        const pending = await waitFor('the write to wait for a reviewer', async () => (await withBroker(config, (b) => b.call('approvalsList', { state: 'pending' }))).items.find((a) => a.params.path === 'lm-paused.txt'), 60_000, 200);
        cts.cancel();
        const outcome = await call;
        const intent = await waitFor('the intent to end cancelled', async () => {
          const i = await withBroker(config, (b) => b.call('intentsGet', { id: pending.intentId }));
          return i.state === 'cancelled' && i;
        }, 30_000, 200);
        assert.equal(intent.reason, 'cancelled');
        // VS Code may hand the caller its own cancellation instead of the tool's answer; if the answer came, it says so.
        if ('text' in outcome) assert.match(outcome.text, /^write_file on agent .+: cancelled\.\n[\s\S]*nothing more of it runs\. Do not retry unless asked\./, outcome.text);
        else assert.match(String((outcome.error as Error)?.message ?? outcome.error), /cancel/i);
        cts.dispose();
      },
    },
  ];

  try {
    await runCases(cases, config.resultsFile, (line) => console.log(`[extension-host] ${line}`));
  } finally {
    for (const a of agents) await a.kill().catch(() => undefined);
  }
}
