import * as vscode from 'vscode';
import type { BrokerConnection } from '../connection/broker-connection';
import { OPEN_APPROVAL_COMMAND, type Names } from '../model/approvals-tree';
import type { LiveModel } from '../model/live-model';
import type { ApprovalPanels } from './approval-panel';
import { reviewMessage, ReviewNotices } from './review-notices';

/** More new requests than this at once (a queue found on connecting) make one summary, not a wall of toasts. */
const SEPARATE_NOTICES = 3;

/** A notification with Review when a request arrives that this user may decide; Review opens its panel. */
export class ReviewNotifier implements vscode.Disposable {
  readonly #notices = new ReviewNotices();
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
    const reviewer = session ? { did: session.user.did, name: session.user.name, role: session.role } : undefined;
    const fresh = this.#notices.take(this.model.approvals(), this.model.connected ? reviewer : undefined, Date.now(), {
      complete: this.model.loaded,
      skip: (id) => this.panels.has(id),
    });
    const names: Names = { agent: (did) => this.model.agent(did), user: (did) => this.model.user(did) };
    if (fresh.length > SEPARATE_NOTICES) {
      void vscode.window.showInformationMessage(`VaultysClaw: ${fresh.length} tool calls wait for your review.`, 'Show Approvals').then((choice) => {
        if (choice) void vscode.commands.executeCommand('vaultysclaw.approvals.focus');
      });
      return;
    }
    for (const approval of fresh) {
      void vscode.window.showInformationMessage(reviewMessage(approval, names), 'Review').then((choice) => {
        if (choice === 'Review') void vscode.commands.executeCommand(OPEN_APPROVAL_COMMAND, approval.requestId);
      });
    }
  }

  dispose(): void {
    this.#subscription.dispose();
  }
}
