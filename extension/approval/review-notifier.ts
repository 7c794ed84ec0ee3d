import * as vscode from 'vscode';
import type { BrokerConnection } from '../connection/broker-connection';
import { OPEN_APPROVAL_COMMAND, type Names } from '../model/approvals-tree';
import type { LiveModel } from '../model/live-model';
import type { ApprovalPanels } from './approval-panel';
import type { Reviewer } from './panel-controller';
import { reviewMessage, ReviewNotices, stillAwaiting } from './review-notices';

/** More new requests than this at once (a queue found on connecting) make one summary, not a wall of toasts. */
const SEPARATE_NOTICES = 3;

interface OpenPrompt {
  requestIds: readonly string[];
  close(): void;
}

/**
 * A notification with Review when a request arrives that this user may decide, which goes away by itself once the
 * request is no longer theirs to decide: another reviewer decided first, its requester withdrew it, it expired, or
 * its panel was opened.
 *
 * Why a progress notification: VS Code gives an extension no way to close a notification shown with
 * showInformationMessage, so a Review button there would stay after somebody else decided and invite a decision
 * already made. A `withProgress` notification ends when its task's promise settles, so each prompt's task waits
 * until stillAwaiting() says nothing of it is left. Its only button is VS Code's Cancel, which here just dismisses
 * the notice (the request stays in the Approvals view and the status bar); Review is a command link in its message,
 * which notifications render as a link (untrusted text in the message is made inert first: reviewMessage).
 */
export class ReviewNotifier implements vscode.Disposable {
  readonly #notices = new ReviewNotices();
  readonly #open = new Set<OpenPrompt>();
  readonly #subscription: vscode.Disposable;

  constructor(
    private readonly model: LiveModel,
    private readonly connection: BrokerConnection,
    private readonly panels: ApprovalPanels,
  ) {
    this.#subscription = model.onDidChange((parts) => {
      if (parts.has('approvals') || parts.has('connection')) this.#check();
    });
  }

  #check(): void {
    const session = this.connection.session;
    const reviewer: Reviewer | undefined = session && this.model.connected ? { did: session.user.did, name: session.user.name, role: session.role } : undefined;
    const options = { complete: this.model.loaded, skip: (id: string) => this.panels.has(id) };
    for (const prompt of [...this.#open]) {
      if (stillAwaiting(prompt.requestIds, this.model.approvals(), reviewer, Date.now(), options).length === 0) prompt.close();
    }
    const fresh = this.#notices.take(this.model.approvals(), reviewer, Date.now(), options);
    const names: Names = { agent: (did) => this.model.agent(did), user: (did) => this.model.user(did) };
    if (fresh.length > SEPARATE_NOTICES) {
      const list = `[Show Approvals](command:vaultysclaw.approvals.focus)`;
      this.#prompt(`VaultysClaw: ${fresh.length} tool calls wait for your review. ${list}`, fresh.map((a) => a.requestId));
      return;
    }
    for (const approval of fresh) {
      const review = `[Review](command:${OPEN_APPROVAL_COMMAND}?${encodeURIComponent(JSON.stringify([approval.requestId]))})`;
      this.#prompt(`${reviewMessage(approval, names)} ${review}`, [approval.requestId]);
    }
  }

  #prompt(title: string, requestIds: readonly string[]): void {
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (_progress, dismissed) =>
      new Promise<void>((resolve) => {
        const prompt: OpenPrompt = {
          requestIds,
          close: () => {
            this.#open.delete(prompt);
            resolve();
          },
        };
        this.#open.add(prompt);
        dismissed.onCancellationRequested(() => prompt.close());
      }),
    );
  }

  dispose(): void {
    for (const prompt of [...this.#open]) prompt.close();
    this.#subscription.dispose();
  }
}
