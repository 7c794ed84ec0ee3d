import type { CancellationToken } from 'vscode';
import { FINAL_INTENT_STATES, type IntentDetail, type IntentSummary } from '../../core/rpc/views';
import type { IntentOrigin } from '../../core/wire/intent-origin';
import type { Capability } from '../../core/wire/policy';
import type { BrokerSession } from '../connection/broker-session';
import { cancelIntent, watchDispatch, type DispatchStatus } from './intent-watch';
import type { LiveModel } from './live-model';

type IntentProgress = Parameters<Parameters<LiveModel['onIntentProgress']>[0]>[0];

/** How long a dispatch waits for the agent's signed result. */
export const DISPATCH_WAIT_MS = 10 * 60_000;

export interface DispatchRequest {
  agent: string;
  capability: Capability;
  params: Record<string, unknown>;
  /** A model chose it (core/wire/intent-origin.ts); absent for a person's dispatch. */
  via?: IntentOrigin;
}

/** What the caller shows while it waits; the palette and the language model tools show it differently. */
export interface DispatchHooks {
  /** The broker took it (or refused it): the summary it answered. */
  sent?(sent: IntentSummary): void;
  /** A new status (waiting for a reviewer, running…). */
  status(status: DispatchStatus): void;
  /** The tool's output as it streams (one progress notification). */
  progress(progress: IntentProgress): void;
  /** Cancel was asked but the broker refused it (the intent ended meanwhile, say): the wait stops. */
  cancelRefused(err: unknown): void;
}

/**
 * Sends an intent through the user's own session and waits for its final state: the one path the palette's
 * Dispatch Intent and the editor AI's dispatch tool share, so every gate, rule and approval applies alike.
 * Cancelling `token` is a real cancel (intents/cancel): the broker ends the intent and has its agent stop.
 * Undefined: the wait stopped because the cancel was refused.
 */
export async function dispatchAndWaitFinal(session: BrokerSession, model: LiveModel, request: DispatchRequest, token: CancellationToken, hooks: DispatchHooks): Promise<IntentDetail | undefined> {
  const sent = await session.call('intentsDispatch', { agent: request.agent, capability: request.capability, params: request.params, ...(request.via ? { via: request.via } : {}) });
  model.noteIntent(sent);
  hooks.sent?.(sent);
  // The output comes with the intent's detail, once it is final: notifications carry summaries only.
  if (FINAL_INTENT_STATES.includes(sent.state)) return session.call('intentsGet', { id: sent.id });
  const stopWaiting = new AbortController();
  const onCancel = () => {
    void cancelIntent(session, model, sent.id).catch((err: unknown) => {
      stopWaiting.abort();
      hooks.cancelRefused(err);
    });
  };
  // A token cancelled already calls the listener at once (VS Code's shortcut event): no second check needed.
  const cancel = token.onCancellationRequested(onCancel);
  const watch = watchDispatch(model, sent.id, (status) => hooks.status(status));
  const progressSub = model.onIntentProgress((p) => {
    if (p.intentId === sent.id) hooks.progress(p);
  });
  try {
    await model.waitForFinal(sent.id, { timeoutMs: DISPATCH_WAIT_MS, signal: stopWaiting.signal });
    return await session.call('intentsGet', { id: sent.id });
  } catch (err) {
    if (stopWaiting.signal.aborted) return undefined;
    throw err;
  } finally {
    cancel.dispose();
    watch.dispose();
    progressSub.dispose();
  }
}
