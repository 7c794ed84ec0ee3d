import * as vscode from 'vscode';
import { shortFingerprint, visibleText } from '../../core/text/untrusted-text';
import type { AgentView } from '../../core/rpc/views';
import { Did } from '../../core/wire/common';
import type { BrokerConnection } from '../connection/broker-connection';
import { describeRpcError } from '../connection/broker-session';
import type { LiveModel } from '../model/live-model';
import { notify } from '../notify';

/** What every command works with. */
export interface Services {
  connection: BrokerConnection;
  model: LiveModel;
  log: vscode.LogOutputChannel;
  extensionPath: string;
}

/** A DID from a command's argument: a tree row (its id is the DID), a DID string, or nothing. */
export function didArgument(arg: unknown): string | undefined {
  const id = typeof arg === 'string' ? arg : (arg as { id?: unknown } | undefined)?.id;
  const did = Did.safeParse(id);
  return did.success ? did.data : undefined;
}

/** Runs a command body, turning a broker refusal into a message instead of an exception in the person's face. */
export function command(services: Services, id: string, body: (...args: unknown[]) => Promise<unknown> | unknown): vscode.Disposable {
  return vscode.commands.registerCommand(id, async (...args: unknown[]) => {
    try {
      return await body(...args);
    } catch (err) {
      const message = describeRpcError(err);
      services.log.error(`${id}: ${message}`);
      void notify.error(`VaultysClaw: ${message}`);
      return undefined;
    }
  });
}

/** The agent a command acts on: the one given, else one picked among those that fit. */
export async function pickAgent(services: Services, arg: unknown, filter: (a: AgentView) => boolean, title: string): Promise<AgentView | undefined> {
  const did = didArgument(arg);
  if (did) {
    const known = services.model.agent(did);
    if (known) return known;
    const session = await services.connection.requireSession('list the agents');
    return session ? session.call('agentsGet', { did }) : undefined;
  }
  // Without a connection there is no list to pick from: say why, and offer the restart.
  if (!(await services.connection.requireSession('list the agents'))) return undefined;
  const candidates = services.model.agents().filter(filter);
  if (candidates.length === 0) {
    void notify.info(`VaultysClaw: no agent to ${title.toLowerCase()}.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    candidates.map((a) => ({
      label: visibleText(a.name),
      description: `${shortFingerprint(a.did)} · ${a.status}${a.online ? ' · online' : ''}`,
      detail: a.policy ? `capabilities: ${a.policy.capabilities.join(', ') || 'none'}` : `asks for: ${a.requested.join(', ') || 'nothing'}`,
      agent: a,
    })),
    { title, placeHolder: 'Choose an agent', matchOnDescription: true, matchOnDetail: true },
  );
  return picked?.agent;
}
