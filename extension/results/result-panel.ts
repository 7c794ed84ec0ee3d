import * as vscode from 'vscode';
import { IntentId } from '../../core/wire/common';
import { FINAL_INTENT_STATES, type IntentDetail } from '../../core/rpc/views';
import { ResultWebviewState, WebviewToExtension, type ExtensionToWebview, type Verdict } from '../../core/webview/result-messages';
import { makeNonce } from '../webview/webview-page';
import type { BrokerConnection } from '../connection/broker-connection';
import type { LiveModel } from '../model/live-model';
import { envelopeDocument, verifyEnvelopes } from './envelope-check';
import { ProgressLog } from './progress-log';
import { resultsHtml } from './results-html';
import { ResultDocuments } from './result-documents';
import { resultView, type ResultIntent } from './result-view-model';
import { notify } from '../notify';

export const RESULT_VIEW_TYPE = 'vaultysclaw.result';
/** Coalesces a burst of progress into one render: a chatty command must not flood the webview. */
const RENDER_DELAY_MS = 100;

/**
 * The one result view: a single webview panel, reused for whichever intent was dispatched or clicked last, kept
 * current from the broker's notifications (intent changes and progress), never by polling. A read_file's content
 * also opens as a read-only document with its language mode, in the preview editor (reused the same way).
 */
export class ResultPanel implements vscode.Disposable {
  #panel: vscode.WebviewPanel | undefined;
  #intentId: string | undefined;
  #detail: IntentDetail | undefined;
  #verification: { intent: Verdict; result: Verdict } | null = null;
  #renderTimer: NodeJS.Timeout | undefined;
  #fetching = new Set<string>();
  /** The read_file results already opened as documents: opened once, when the content first arrives. */
  #documentsOpened = new Set<string>();
  readonly #progress = new ProgressLog();
  readonly #documents = new ResultDocuments();
  readonly #disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly connection: BrokerConnection,
    private readonly model: LiveModel,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.#disposables.push(
      this.#documents.register(),
      // Kept whether or not the panel is open: the first lines of a command arrive before anyone clicks it.
      model.onIntentProgress((p) => this.#progress.add(p)),
      this.#progress.onDidAdd((id) => {
        if (id === this.#intentId) this.#scheduleRender();
      }),
      model.onDidChange((parts) => {
        const id = this.#intentId;
        // A panel restored before the broker connected, or shown across a reconnect, reads its intent once connected.
        if (id && this.#panel && parts.has('connection') && model.connected && !this.#detail) void this.#fetch(id);
        if (!id || !(parts.has('intents') || parts.has('users') || parts.has('agents') || parts.has('approvals'))) return;
        const summary = model.intent(id);
        // The detail (output, envelopes) is read once the intent is final; until then the summary tells the state.
        if (summary && FINAL_INTENT_STATES.includes(summary.state) && (!this.#detail || !FINAL_INTENT_STATES.includes(this.#detail.state))) void this.#fetch(id);
        this.#scheduleRender();
      }),
      vscode.window.registerWebviewPanelSerializer(RESULT_VIEW_TYPE, {
        deserializeWebviewPanel: async (panel, state: unknown) => {
          const intentId = ResultWebviewState.shape.intentId.safeParse((state as { intentId?: unknown } | undefined)?.intentId).data;
          if (!intentId || this.#panel) {
            panel.dispose();
            return;
          }
          this.#adopt(panel);
          await this.show(intentId);
        },
      }),
    );
  }

  /** The intent shown, if the panel is open. */
  get intentId(): string | undefined {
    return this.#panel ? this.#intentId : undefined;
  }

  /** Shows an intent in the one panel (created on first use, then reused), and reads its detail from the broker. */
  async show(intentId: string, options: { preserveFocus?: boolean } = {}): Promise<void> {
    if (!IntentId.safeParse(intentId).success) return;
    if (this.#intentId !== intentId) {
      this.#intentId = intentId;
      this.#detail = undefined;
      this.#verification = null;
    }
    if (this.#panel) this.#panel.reveal(undefined, options.preserveFocus);
    else this.#adopt(vscode.window.createWebviewPanel(RESULT_VIEW_TYPE, 'VaultysClaw result', { viewColumn: vscode.ViewColumn.Active, preserveFocus: options.preserveFocus }, this.#options()));
    this.#render();
    await this.#fetch(intentId);
  }

  /** "Show Signed Envelope": both envelopes decoded, in a read-only JSON document (the preview editor). */
  async showEnvelope(intentId = this.#intentId): Promise<void> {
    const detail = intentId ? await this.#detailOf(intentId) : undefined;
    if (!detail) return;
    const verification = intentId === this.#intentId ? this.#verification : null;
    await this.#documents.open(detail.id, `signed-${detail.capability}.json`, envelopeDocument(detail, verification));
  }

  /** "Verify": both signatures checked again here, offline, and said in a sentence each. */
  async verify(intentId = this.#intentId): Promise<{ intent: Verdict; result: Verdict } | undefined> {
    const session = await this.connection.requireSession('verify an intent');
    const detail = intentId ? await this.#detailOf(intentId) : undefined;
    if (!session || !detail) return undefined;
    const [info, agent] = await Promise.all([
      session.call('brokerInfo', {}),
      this.model.agent(detail.agent)?.id ? Promise.resolve(this.model.agent(detail.agent)) : session.call('agentsGet', { did: detail.agent }).catch(() => undefined),
    ]);
    const verification = verifyEnvelopes(detail, { brokerId: info.id, pinnedBrokerDid: session.brokerDid, agentId: agent?.id ?? null });
    if (intentId === this.#intentId) {
      this.#verification = verification;
      this.#render();
    }
    const both = `${verification.intent.sentence} ${verification.result.sentence}`;
    this.log.info(`verify intent ${detail.id}: ${both}`);
    if (verification.intent.holds && verification.result.holds) void notify.info(`VaultysClaw: both signatures hold. ${both}`);
    else void notify.warn(`VaultysClaw: ${both}`);
    return verification;
  }

  async #detailOf(intentId: string): Promise<IntentDetail | undefined> {
    if (intentId === this.#intentId && this.#detail) return this.#detail;
    const session = await this.connection.requireSession('read an intent');
    return session ? session.call('intentsGet', { id: intentId }) : undefined;
  }

  async #fetch(intentId: string): Promise<void> {
    const session = this.connection.session;
    if (!session || this.#fetching.has(intentId)) return;
    this.#fetching.add(intentId);
    try {
      const detail = await session.call('intentsGet', { id: intentId });
      if (intentId !== this.#intentId) return;
      this.#detail = detail;
      this.#render();
      if (detail.capability === 'read_file' && detail.state === 'succeeded' && !this.#documentsOpened.has(detail.id)) {
        this.#documentsOpened.add(detail.id);
        await this.#openDocument(detail);
      }
    } catch (err) {
      this.log.warn(`could not read intent ${intentId}: ${(err as Error).message}`);
      if (intentId === this.#intentId && !this.#intent()) this.#notice(`This intent could not be read from the broker: ${(err as Error).message}. Close this tab, or pick an intent in the Activity view.`);
    } finally {
      this.#fetching.delete(intentId);
      // A change that arrived while this read was in flight asks again once it is done.
      const summary = this.model.intent(intentId);
      if (intentId === this.#intentId && summary && FINAL_INTENT_STATES.includes(summary.state) && this.#detail && !FINAL_INTENT_STATES.includes(this.#detail.state)) void this.#fetch(intentId);
    }
  }

  /** A read_file's content as a real, read-only document: its language picked from the file's extension. */
  async #openDocument(detail: IntentDetail): Promise<void> {
    const content = detail.output?.content;
    if (typeof content !== 'string') return;
    const name = String(detail.params.path ?? 'file').split('/').pop() || 'file';
    await this.#documents.open(detail.id, name, content, { viewColumn: this.#panel?.viewColumn, preserveFocus: false });
  }

  /** The intent as best known now: the detail, with a newer summary's state over it. */
  #intent(): ResultIntent | undefined {
    const id = this.#intentId;
    if (!id) return undefined;
    const summary = this.model.intent(id);
    const detail = this.#detail;
    if (!detail) return summary;
    if (summary && summary.updatedAt > detail.updatedAt) {
      const { paramsTruncated: _cut, params: _shortParams, ...newer } = summary;
      return { ...detail, ...newer };
    }
    return detail;
  }

  #scheduleRender(): void {
    if (this.#renderTimer) return;
    this.#renderTimer = setTimeout(() => {
      this.#renderTimer = undefined;
      this.#render();
    }, RENDER_DELAY_MS);
  }

  #notice(text: string): void {
    const message: ExtensionToWebview = { type: 'notice', text };
    void this.#panel?.webview.postMessage(message);
  }

  #render(): void {
    const panel = this.#panel;
    const intent = this.#intent();
    if (panel && !intent && !this.model.connected) this.#notice('Not connected to the broker: the result shows once VaultysClaw reconnects.');
    if (!panel || !intent) return;
    try {
      const view = resultView({
        intent,
        progress: this.#progress.entries(intent.id),
        progressDropped: this.#progress.dropped(intent.id),
        approvals: this.model.approvals().filter((a) => a.intentId === intent.id),
        nameOf: (did) => this.model.user(did)?.name ?? this.model.agent(did)?.name,
        now: Date.now(),
        locale: vscode.env.language,
        verification: this.#verification,
      });
      panel.title = view.title.length > 40 ? `${view.title.slice(0, 39)}…` : view.title;
      const message: ExtensionToWebview = { type: 'view', view };
      void panel.webview.postMessage(message);
    } catch (err) {
      this.log.warn(`could not show intent ${intent.id}: ${(err as Error).message}`);
    }
  }

  async #receive(raw: unknown): Promise<void> {
    const message = WebviewToExtension.safeParse(raw);
    if (!message.success) {
      this.log.warn('the result view sent a message that does not parse; ignored');
      return;
    }
    try {
      switch (message.data.type) {
        case 'ready':
          this.#render();
          return;
        case 'showEnvelope':
          await this.showEnvelope();
          return;
        case 'verify':
          await this.verify();
          return;
        case 'openDocument':
          if (this.#detail) await this.#openDocument(this.#detail);
          return;
      }
    } catch (err) {
      void notify.error(`VaultysClaw: ${(err as Error).message}`);
    }
  }

  #options(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    // Kept alive while hidden: the read_file document opens over the panel, and a webview rebuilt on reveal can come
    // back blank in a browser workbench (its new frame waits forever on the old frame's service worker).
    return { enableScripts: true, enableFindWidget: true, retainContextWhenHidden: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist', 'webviews')] };
  }

  #adopt(panel: vscode.WebviewPanel): void {
    this.#panel = panel;
    panel.webview.options = this.#options();
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'extension', 'media', 'vaultysclaw.svg');
    const subs = [panel.webview.onDidReceiveMessage((m: unknown) => void this.#receive(m))];
    panel.onDidDispose(() => {
      for (const s of subs) s.dispose();
      if (this.#panel === panel) this.#panel = undefined;
    });
    const scriptUri = panel.webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webviews', 'results.js'));
    panel.webview.html = resultsHtml({ cspSource: panel.webview.cspSource, nonce: makeNonce(), scriptUri: scriptUri.toString() });
  }

  dispose(): void {
    clearTimeout(this.#renderTimer);
    this.#panel?.dispose();
    for (const d of this.#disposables.splice(0)) d.dispose();
  }
}
