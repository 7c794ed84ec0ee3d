import { posix } from 'node:path';
import * as vscode from 'vscode';
import { visibleText } from '../../core/text/untrusted-text';
import { DISPATCHERS } from '../../core/rpc/roles';
import type { ApprovalView } from '../../core/rpc/views';
import { ApprovalWebviewState, type ExtensionToWebview } from '../../core/webview/approval-messages';
import type { BrokerConnection } from '../connection/broker-connection';
import type { LiveModel } from '../model/live-model';
import { approvalHtml } from './approval-html';
import { makeNonce } from '../webview/webview-page';
import { lookupApproval } from './approval-lookup';
import { sendDecision } from './decision';
import { cancelIntent } from '../model/intent-watch';
import { ApprovalPanelController, panelTitle, type PanelHost } from './panel-controller';
import { APPROVAL_DIFF_SCHEME as DIFF_SCHEME } from './request-argument';

export const APPROVAL_VIEW_TYPE = 'vaultysclaw.approval';

/** Read-only documents for the diff editor: the proposed content of a write, and what the file holds now. */
export class ApprovalContentProvider implements vscode.TextDocumentContentProvider {
  readonly #docs = new Map<string, string>();
  readonly #changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.#changed.event;

  set(uri: vscode.Uri, content: string): void {
    this.#docs.set(uri.toString(), content);
    this.#changed.fire(uri);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.#docs.get(uri.toString()) ?? '';
  }
}

/** Every open approval panel, one per request; each keeps to what the broker says about its request. */
export class ApprovalPanels implements vscode.Disposable {
  readonly #panels = new Map<string, { panel: vscode.WebviewPanel; controller: ApprovalPanelController }>();
  readonly #content = new ApprovalContentProvider();
  readonly #disposables: vscode.Disposable[] = [];
  /** Requests whose whole params are being read (approvals/get), so a burst of changes asks once. */
  readonly #loading = new Set<string>();

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly connection: BrokerConnection,
    private readonly model: LiveModel,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.#disposables.push(
      vscode.workspace.registerTextDocumentContentProvider(DIFF_SCHEME, this.#content),
      model.onDidChange(() => {
        for (const [requestId, { controller }] of this.#panels) {
          if (this.model.approval(requestId)?.paramsTruncated) void this.#loadWhole(requestId);
          controller.refresh();
        }
      }),
      vscode.window.registerWebviewPanelSerializer(APPROVAL_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          // Only the request id: the rest of a state saved by an older version need not match today's schema.
          const requestId = ApprovalWebviewState.shape.requestId.safeParse((state as Partial<ApprovalWebviewState> | undefined)?.requestId).data;
          // One panel per request: a second restored tab of the same request goes.
          if (!requestId || this.#panels.has(requestId)) {
            panel.dispose();
            return;
          }
          this.#adopt(panel, requestId);
        },
      }),
    );
  }

  has(requestId: string): boolean {
    return this.#panels.has(requestId);
  }

  get openRequests(): string[] {
    return [...this.#panels.keys()];
  }

  async open(requestId: string): Promise<void> {
    const existing = this.#panels.get(requestId);
    if (existing) {
      existing.panel.reveal();
      return;
    }
    if (!this.model.approval(requestId)) {
      const session = await this.connection.requireSession('open the approval');
      if (!session) return;
      this.model.noteApproval(await session.call('approvalsGet', { requestId }));
    }
    // Approval panels share one group (the diff editor has its own beside it): a review never spreads over more.
    const column = [...this.#panels.values()].find((p) => p.panel.viewColumn !== undefined)?.panel.viewColumn ?? vscode.ViewColumn.Active;
    const panel = vscode.window.createWebviewPanel(APPROVAL_VIEW_TYPE, this.#title(requestId), column, this.#options());
    this.#adopt(panel, requestId);
  }

  /** A list shows a summary of a request's params: an open panel shows, and its reviewer decides on, the whole request. */
  async #loadWhole(requestId: string): Promise<void> {
    const session = this.connection.session;
    if (!session || this.#loading.has(requestId)) return;
    this.#loading.add(requestId);
    try {
      this.model.noteApproval(await session.call('approvalsGet', { requestId }));
    } catch (err) {
      this.log.warn(`could not read approval request ${requestId} in full: ${(err as Error).message}`);
    } finally {
      this.#loading.delete(requestId);
    }
  }

  #options(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist', 'webviews')] };
  }

  #title(requestId: string): string {
    const a = this.model.approval(requestId);
    return a ? panelTitle(a) : 'VaultysClaw approval';
  }

  #adopt(panel: vscode.WebviewPanel, requestId: string): void {
    panel.webview.options = this.#options();
    if (this.model.approval(requestId)?.paramsTruncated) void this.#loadWhole(requestId);
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'extension', 'media', 'vaultysclaw.svg');
    const nonce = makeNonce();
    const scriptUri = panel.webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webviews', 'approval.js'));
    const post = (message: ExtensionToWebview) => void panel.webview.postMessage(message);
    const controller = new ApprovalPanelController(requestId, this.#host(requestId, panel, post));
    this.#panels.set(requestId, { panel, controller });
    const subs = [
      panel.webview.onDidReceiveMessage((m: unknown) => void controller.receive(m)),
      // Without retained context a hidden webview is torn down; it says `ready` again when shown.
      panel.onDidChangeViewState(() => {
        if (!panel.visible) controller.webviewReset();
      }),
    ];
    panel.onDidDispose(() => {
      for (const s of subs) s.dispose();
      this.#panels.delete(requestId);
    });
    panel.webview.html = approvalHtml({ cspSource: panel.webview.cspSource, nonce, scriptUri: scriptUri.toString(), title: this.#title(requestId) });
    // Named (and, for a restored panel, looked up) at once, not when the webview first says ready.
    controller.refresh();
  }

  #host(requestId: string, panel: vscode.WebviewPanel, post: (message: ExtensionToWebview) => void): PanelHost {
    const { model, connection } = this;
    return {
      post,
      approval: () => model.approval(requestId),
      names: { agent: (did) => model.agent(did), user: (did) => model.user(did) },
      origin: (intentId) => model.intent(intentId)?.via,
      reviewer: () => {
        const s = connection.session;
        return s ? { did: s.user.did, name: s.user.name, role: s.role } : undefined;
      },
      connected: () => model.connected,
      now: () => Date.now(),
      report: (message) => this.log.warn(message),
      decide: async (approval, decision, reason) => {
        const session = connection.session;
        if (!session) throw new Error('the broker is not connected');
        // Signed here, with the reviewer's key from SecretStorage; the broker only checks and countersigns.
        const view = await sendDecision(session, model, approval, decision, reason);
        this.log.info(`${decision} ${approval.capability} request ${approval.requestId} (intent ${approval.intentId}) as ${session.user.did}`);
        return view;
      },
      withdraw: async (approval) => {
        const session = connection.session;
        if (!session) throw new Error('the broker is not connected');
        await cancelIntent(session, model, approval.intentId);
        this.log.info(`withdrew ${approval.capability} request ${approval.requestId}: cancelled intent ${approval.intentId} as ${session.user.did}`);
      },
      allowCall: async (approval) => {
        const session = connection.session;
        if (!session) throw new Error('the broker is not connected');
        const added = await session.call('policyAllowCall', { requestId: approval.requestId });
        model.noteAgent(added.agent);
        this.log.info(`added the allow rule ${added.rule} to agent ${approval.agent} from request ${approval.requestId} as ${session.user.did}`);
        return added.rule;
      },
      openDiff: (approval) => this.#openDiff(approval),
      lookup: async (id) => {
        const session = connection.session;
        if (!session) throw new Error('the broker is not connected');
        return lookupApproval(session, model, id);
      },
      setTitle: (title) => {
        if (panel.title !== title) panel.title = title;
      },
      close: () => panel.dispose(),
    };
  }

  /** Current content vs proposed, in a real diff editor; says plainly when the current content could not be fetched. */
  async #openDiff(approval: ApprovalView): Promise<string | null> {
    const path = String(approval.params.path ?? '');
    const proposed = String(approval.params.content ?? '');
    const base = `/${approval.requestId}/${posix.basename(path) || 'file'}`;
    const right = vscode.Uri.from({ scheme: DIFF_SCHEME, path: `${base}`, query: 'proposed' });
    const left = vscode.Uri.from({ scheme: DIFF_SCHEME, path: `${base}`, query: 'current' });
    this.#content.set(right, proposed);
    const current = await this.#currentContent(approval);
    this.#content.set(left, current.content);
    const title = `${visibleText(path)}: ${current.label} ↔ proposed`;
    // One diff editor for approvals: it opens where the last one is (a new group only the first time), and the
    // previous request's diff goes, so a review leaves one group beside the panel, not one more per diff.
    const diffTabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.scheme === DIFF_SCHEME);
    const viewColumn = diffTabs()[0]?.group.viewColumn ?? vscode.ViewColumn.Beside;
    await vscode.commands.executeCommand('vscode.diff', left, right, title, { preview: true, viewColumn });
    const stale = diffTabs().filter((t) => (t.input as vscode.TabInputTextDiff).modified.toString() !== right.toString());
    if (stale.length) await vscode.window.tabGroups.close(stale, true);
    return current.notice;
  }

  async #currentContent(approval: ApprovalView): Promise<{ content: string; label: string; notice: string | null }> {
    if (approval.params.mode === 'create') return { content: '', label: 'new file', notice: 'The write creates a new file (it fails if the file exists), so the diff is against an empty document.' };
    const unavailable = (why: string) => ({ content: '', label: 'current content unavailable', notice: `The current content could not be fetched (${why}), so the diff shows the proposed content against an empty document.` });
    const session = this.connection.session;
    const agent = this.model.agent(approval.agent);
    if (!session) return unavailable('the broker is not connected');
    if (!DISPATCHERS.includes(session.role)) return unavailable(`your role (${session.role}) cannot dispatch a read_file intent`);
    if (!agent?.online || !agent.policy?.capabilities.includes('read_file')) return unavailable('the agent is offline or not granted read_file');
    if (agent.policy.approvalRequired.includes('read_file')) return unavailable('read_file needs a reviewer on this agent');
    try {
      // A real, signed and audited read_file intent, as the reviewer: nothing reads the agent's disk another way.
      const sent = await session.call('intentsDispatch', { agent: approval.agent, capability: 'read_file', params: { path: String(approval.params.path) } });
      this.model.noteIntent(sent);
      await this.model.waitForFinal(sent.id, { timeoutMs: 30_000 });
      const final = await session.call('intentsGet', { id: sent.id });
      if (final.state !== 'succeeded') return unavailable(`read_file ${final.state}${final.reason ? `: ${final.reason}` : final.message ? `: ${visibleText(final.message)}` : ''}`);
      const content = final.output?.content;
      if (typeof content !== 'string') return unavailable('read_file returned no text');
      const truncated = final.output?.truncated === true;
      return { content, label: truncated ? 'current (truncated)' : 'current', notice: truncated ? 'The current file is larger than read_file returns; the diff shows its beginning.' : null };
    } catch (err) {
      return unavailable((err as Error).message);
    }
  }

  dispose(): void {
    for (const { panel } of this.#panels.values()) panel.dispose();
    for (const d of this.#disposables.splice(0)) d.dispose();
  }
}
