import * as vscode from 'vscode';
import { parseApprovalLink } from '../../core/ops/approval-link';
import type { Services } from '../commands/services';
import { describeRpcError } from '../connection/broker-session';
import { notify } from '../notify';
import { lookupApproval } from './approval-lookup';
import type { ApprovalPanels } from './approval-panel';
import { cannotDecide } from './panel-controller';

/** A link that activated the extension arrives while it connects: it waits that long before saying why it cannot open it. */
const CONNECT_WAIT_MS = 20_000;

/**
 * What a vscode://vaultysclaw.vaultysclaw/approval?id=… link does (a webhook's notification carries one): it opens
 * that request's approval panel, as the Approvals view would, and decides nothing. Any web page or message can open
 * such a link, so anything but exactly an approval link is refused with the reason, never echoing the link back.
 */
export async function openApprovalLink(services: Services, panels: Pick<ApprovalPanels, 'open'>, uri: Pick<vscode.Uri, 'path' | 'query'>): Promise<void> {
  const link = parseApprovalLink({ path: uri.path, query: uri.query });
  if (!link.ok) {
    services.log.warn(`refused a vscode:// link: ${link.reason}`);
    void notify.warn(`VaultysClaw: ${link.reason}. The link was not opened.`);
    return;
  }
  const session =
    (await services.connection.supervisor.whenConnected(CONNECT_WAIT_MS).catch(() => undefined)) ?? (await services.connection.requireSession('open the approval of the link'));
  if (!session) return;
  const approval = await lookupApproval(session, services.model, link.requestId);
  if (!approval) {
    void notify.warn('VaultysClaw: the broker you are connected to has no such approval request (the link may come from another broker).');
    return;
  }
  services.log.info(`opening approval request ${approval.requestId} from a link`);
  await panels.open(approval.requestId);
  // Opened in any case (the panel shows who decided and why); said here when the reviewer cannot act on it.
  const refusal = cannotDecide(approval, { did: session.user.did, name: session.user.name, role: session.role }, true, Date.now());
  if (refusal) void notify.info(`VaultysClaw: ${refusal}`);
}

/** The extension's one URI handler: VS Code routes vscode://vaultysclaw.vaultysclaw/… here (activation onUri). */
export function registerApprovalLinkHandler(services: Services, panels: ApprovalPanels): vscode.Disposable {
  return vscode.window.registerUriHandler({
    handleUri: (uri) => {
      openApprovalLink(services, panels, uri).catch((err: unknown) => {
        const message = describeRpcError(err);
        services.log.error(`approval link: ${message}`);
        void notify.error(`VaultysClaw: could not open the approval: ${message}`);
      });
    },
  });
}
